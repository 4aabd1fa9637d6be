"""The backends as the dispatcher sees them: up or down, able to run the workflows or not, the
attempts each one holds (in claim order), and prompts to take off a backend once it answers.

Health: a probe of every backend each `health_interval`. A backend that does not answer is
marked down (no new work; its attempts fail over as their own calls fail); one that answers
again is marked up, checked if it never was, and relieved of the prompts we gave up on while
it was away. A probe that fails in any other way is logged and the loop goes on: a backend
must never stay down because one probe hit a bug.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.comfy.backend import Backend, check_line
from bot.comfy.capabilities import TemplateNeeds
from bot.comfy.errors import ComfyError
from bot.jobs.dispatcher._attempt import Attempt

__all__ = ["BackendView", "Slot", "BackendPool"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BackendView:
    """One backend as the dispatcher sees it now (for /queue, /healthz and /metrics)."""

    name: str
    up: bool
    usable: bool  # False when the backend lacks the workflow's nodes or models
    job_ids: tuple[int, ...]  # jobs on it now, in claim order


@dataclass(eq=False)
class Slot:
    """One backend and what the dispatcher keeps about it."""

    backend: Backend
    up: bool = True
    usable: bool = True  # False when the backend lacks the workflow's nodes or models
    checked: bool = False  # the capability check ran while the backend answered
    attempts: list[Attempt] = field(default_factory=list)  # in claim order
    abandoned: set[str] = field(default_factory=set)  # prompts to take off once it answers

    @property
    def name(self) -> str:
        return self.backend.name

    @property
    def open(self) -> bool:
        """May be given new work."""
        return self.up and self.usable

    def hold(self, attempt: Attempt) -> None:
        self.attempts.append(attempt)

    def release(self, attempt: Attempt) -> None:
        """Forget `attempt` (and only it: a newer attempt of the same job may be here too)."""
        if attempt in self.attempts:
            self.attempts.remove(attempt)

    def view(self) -> BackendView:
        job_ids = tuple(dict.fromkeys(a.job_id for a in self.attempts))
        return BackendView(self.name, self.up, self.usable, job_ids)


class BackendPool:
    def __init__(self, backends: Sequence[Backend], *, needs: TemplateNeeds | None, interval: float,
                 on_up: Callable[[], None]) -> None:
        self.slots = [Slot(b) for b in backends]
        self.needs = needs  # when given, a backend must pass the capability check to get work
        self.interval = interval
        self.on_up = on_up  # a backend came back: there may be work for it

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

    def mark_down(self, slot: Slot) -> None:
        if slot.up:
            log.warning("backend %s is down", slot.name)
        slot.up = False

    def mark_unusable(self, slot: Slot, reason: str) -> None:
        """The server lacks a node pack or a model: no more work until `wanbot check` passes."""
        slot.usable = False
        log.error("backend %s cannot run the workflow: %s", slot.name, reason)

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
        """Capability check; an unreachable backend is checked again when it answers."""
        if self.needs is None:
            slot.checked = True
            return
        report = await slot.backend.prepare(self.needs)
        # One line per check (at start-up, and when a backend that was down answers again).
        level = logging.INFO if report.ok else logging.WARNING if not report.reachable else logging.ERROR
        log.log(level, "%s", check_line(report))
        slot.checked = report.reachable
        slot.up = report.reachable
        slot.usable = report.ok or not report.reachable

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
