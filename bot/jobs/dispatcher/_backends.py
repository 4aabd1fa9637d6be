"""The backends as the dispatcher sees them: up or down, which workflows each can run, the
template it last took (its warm model), the attempts each one holds (in claim order), and
prompts to take off a backend once it answers.

Capability is per template: the check (and a rejection that shows a missing node pack or model
file) makes a backend unable to run one template, not all of them, so a 12 GB card that cannot
run the 14B workflow still gets the 1.3B jobs. Without templates (tests), every backend may
take every job, and a rejection closes the backend.

Listening: ComfyUI sends a prompt's events only to the clientId that queued it. A process's own
prompts go to its own socket (the backend's client uses the process's identity); to follow a
prompt another process queued (adopted after that process died), the pool opens a second socket
under that process's clientId for as long as some attempt follows such a prompt (`listening`).

Health: a probe of every backend each `health_interval`. A backend that does not answer is
marked down (no new work; its attempts fail over as their own calls fail); one that answers
again is marked up, checked if it never was, and relieved of the prompts we gave up on while
it was away. A probe that fails in any other way is logged and the loop goes on: a backend
must never stay down because one probe hit a bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

from bot.comfy.backend import Backend, check_line
from bot.comfy.capabilities import TemplateNeeds
from bot.comfy.client import ComfyClient
from bot.comfy.errors import ComfyError
from bot.comfy.events import EventStream
from bot.jobs.dispatcher._attempt import Attempt

__all__ = ["BackendView", "Slot", "BackendPool"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendView:
    """One backend as the dispatcher sees it now (for /queue, /healthz and /metrics)."""

    name: str
    up: bool
    usable: bool  # False when the backend can run none of the workflows
    job_ids: tuple[int, ...]  # jobs on it now, in claim order
    # The configured workflows it can run (None: any job, no templates were given) and why it
    # cannot run each of the others (the check's sentences, or the rejection's).
    able: tuple[str, ...] | None = None
    unable: Mapping[str, str] = field(default_factory=dict)
    warm: str | None = None  # the template of the last job it took (its models are loaded)


@dataclass(eq=False)
class Slot:
    """One backend and what the dispatcher keeps about it."""

    backend: Backend
    up: bool = True
    # The templates it may be given (None: any); `unable` says why not each of the others.
    able: frozenset[str] | None = None
    unable: dict[str, str] = field(default_factory=dict)
    warm: str | None = None  # the template of the last job it took: ComfyUI keeps its models loaded
    checked: bool = False  # the capability check ran while the backend answered
    attempts: list[Attempt] = field(default_factory=list)  # in claim order
    abandoned: set[str] = field(default_factory=set)  # prompts to take off once it answers
    # Every slot taken (by any process) when last counted: no claim for it until a job leaves a
    # backend (a release here, or a release, cancel or resync notice).
    full: bool = False

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def usable(self) -> bool:
        """Can run at least one of the workflows."""
        return self.able is None or bool(self.able)

    @property
    def open(self) -> bool:
        """May be given new work."""
        return self.up and self.usable

    def can_run(self, template: str) -> bool:
        return self.able is None or template in self.able

    def hold(self, attempt: Attempt) -> None:
        """Its prompts run in the order they were handed over: the last one's models will be
        the ones loaded."""
        self.attempts.append(attempt)
        self.warm = attempt.job.template

    def release(self, attempt: Attempt) -> None:
        """Forget `attempt` (and only it: a newer attempt of the same job may be here too)."""
        if attempt in self.attempts:
            self.attempts.remove(attempt)
        self.full = False

    def view(self) -> BackendView:
        job_ids = tuple(dict.fromkeys(a.job_id for a in self.attempts))
        able = None if self.able is None else tuple(sorted(self.able))
        return BackendView(self.name, self.up, self.usable, job_ids, able, dict(self.unable), self.warm)


# How long an attempt waits for a borrowed socket before following by polling alone (it catches
# up on events it missed from /queue and /history either way).
_BORROW_CONNECT = 2.0


@dataclass(eq=False)
class _Borrowed:
    """A socket under another process's clientId, and how many attempts listen on it."""

    client: ComfyClient
    events: EventStream
    users: int = 0


class BackendPool:
    def __init__(self, backends: Sequence[Backend], *, templates: Mapping[str, TemplateNeeds] | None,
                 interval: float, on_up: Callable[[], None]) -> None:
        # When given, a backend gets the jobs of a template only once its check passed for it.
        self.templates = dict(templates) if templates else None
        initially = None if self.templates is None else frozenset(self.templates)
        self.slots = [Slot(b, able=initially) for b in backends]
        self.interval = interval
        self.on_up = on_up  # a backend came back: there may be work for it
        self._borrowed: dict[tuple[str, str], _Borrowed] = {}

    def slot_of(self, name: str | None) -> Slot | None:
        return next((s for s in self.slots if s.name == name), None)

    def views(self) -> list[BackendView]:
        return [slot.view() for slot in self.slots]

    async def start(self) -> None:
        """Open the websockets and run the capability checks."""
        for slot in self.slots:
            slot.backend.start()
        await asyncio.gather(*(self._check(slot) for slot in self.slots))

    async def close(self) -> None:
        for slot in self.slots:
            await slot.backend.close()
        for borrowed in self._borrowed.values():
            await borrowed.events.close()
        self._borrowed.clear()

    @contextlib.asynccontextmanager
    async def listening(self, slot: Slot, client_id: str | None) -> AsyncIterator[tuple[ComfyClient, EventStream]]:
        """The client and event stream that hear the prompts queued as `client_id` (None or
        this process's own: the backend's own pair) on `slot`'s server."""
        own = slot.backend
        if client_id is None or client_id == own.client.client_id:
            yield own.client, own.events
            return
        key = (slot.name, client_id)
        borrowed = self._borrowed.get(key)
        if borrowed is None:
            client = own.client.as_client(client_id)
            borrowed = self._borrowed[key] = _Borrowed(client, EventStream(client, heartbeat=own.events.heartbeat))
            borrowed.events.start()
        borrowed.users += 1
        try:
            await borrowed.events.wait_connected(_BORROW_CONNECT)
            yield borrowed.client, borrowed.events
        finally:
            borrowed.users -= 1
            if borrowed.users == 0 and self._borrowed.get(key) is borrowed:
                del self._borrowed[key]
                await borrowed.events.close()

    def mark_down(self, slot: Slot) -> None:
        if slot.up:
            log.warning("backend %s is down", slot.name)
        slot.up = False

    def can_run(self, template: str) -> bool:
        """Some backend that is up can run `template` now."""
        return any(slot.up and slot.can_run(template) for slot in self.slots)

    def preferred(self, slot: Slot) -> str | None:
        """The template `slot` should prefer: the one it has loaded; when cold (nothing loaded
        yet), the one of its templates that the fewest backends can run, since the others can
        take the rest (a 14B-capable GPU starts on 14B). None: no preference."""
        if slot.warm is not None or slot.able is None or len(slot.able) < 2:
            return slot.warm
        capable = {name: sum(other.up and other.can_run(name) for other in self.slots) for name in sorted(slot.able)}
        fewest = min(capable.values())
        return None if fewest == max(capable.values()) else min(capable, key=lambda name: capable[name])

    def prefetchable(self, slot: Slot, busy: Collection[Slot] = ()) -> frozenset[str] | None:
        """The templates `slot` may take into a prefetch slot: those no idle backend can run
        (None: any). An idle backend was asked first and found nothing, so a job of its
        templates that is queued now came in during the round: the next round gives it to
        that backend's running slot rather than this one's queue, behind a whole render.
        `busy` backends run another process's job: not idle."""
        idle = [other for other in self.slots
                if other is not slot and other.open and not other.attempts and other not in busy]
        if not idle:
            return slot.able
        if slot.able is None or any(other.able is None for other in idle):
            return frozenset()  # without templates, an idle backend can run anything
        return slot.able.difference(*(other.able for other in idle if other.able is not None))

    def mark_unusable(self, slot: Slot, template: str, reason: str) -> None:
        """The server lacks a node pack or a model of `template`: no more of its jobs there
        until the bot restarts (after `wanbot check` passes). Its other templates go on."""
        slot.able = frozenset() if slot.able is None else slot.able - {template}
        slot.unable[template] = reason
        log.error("backend %s cannot run %s: %s", slot.name, template, reason)

    async def take_off(self, slot: Slot, prompt_id: str) -> None:
        """We give up on this prompt here: take it off the backend now, or once it answers."""
        if slot.up:
            try:
                await slot.backend.client.cancel(prompt_id)
                return
            except ComfyError as exc:
                log.warning("could not cancel on %s: %s", slot.name, exc.reason)
        slot.abandoned.add(prompt_id)

    # ----------------------------------------------------------------- health

    async def health_loop(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            await asyncio.gather(*(self._probe_guarded(slot) for slot in self.slots))

    async def _probe_guarded(self, slot: Slot) -> None:
        try:
            await self._probe(slot)
        except Exception:  # noqa: BLE001 - one bad probe must not end health checks for good
            log.exception("health probe of %s failed", slot.name)

    async def _probe(self, slot: Slot) -> None:
        try:
            await slot.backend.client.system_stats()
        except ComfyError:
            self.mark_down(slot)
            return
        was_up = slot.up
        if slot.checked:
            slot.up = True
        else:
            await self._check(slot)
        if not slot.up:
            return
        if slot.abandoned:
            await self._forget_abandoned(slot)
        if not was_up:
            log.info("backend %s is up again", slot.name)
            self.on_up()

    async def _check(self, slot: Slot) -> None:
        """Capability check of every template; an unreachable backend is checked again when it
        answers (until then it keeps the templates it was thought able to run)."""
        if self.templates is None:
            slot.checked = True
            return
        reports = await slot.backend.prepare(self.templates)
        first = next(iter(reports.values()))
        able = [name for name, report in reports.items() if report.ok]
        # One line per check (at start-up, and when a backend that was down answers again).
        level = (logging.WARNING if not first.reachable else logging.INFO if len(able) == len(reports)
                 else logging.WARNING if able else logging.ERROR)
        log.log(level, "%s", check_line(reports))
        slot.checked = slot.up = first.reachable
        if first.reachable:
            slot.able = frozenset(able)
            slot.unable = {name: "; ".join(report.problems()) for name, report in reports.items() if not report.ok}

    async def _forget_abandoned(self, slot: Slot) -> None:
        """Prompts we gave to another backend (or cancelled) must not also run here after a
        blip. One that cannot be cancelled now is tried again at the next probe."""
        for prompt_id in list(slot.abandoned):
            try:
                await slot.backend.client.cancel(prompt_id)
            except ComfyError as exc:
                log.warning("could not take prompt %s off %s yet: %s", prompt_id, slot.name, exc.reason)
                continue
            slot.abandoned.discard(prompt_id)
