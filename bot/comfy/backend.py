"""A backend is one ComfyUI server as the bot sees it: its HTTP client and its event stream,
and `check_line`, the result of its capability check as one line for the bot's log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.comfy.capabilities import BackendReport, TemplateNeeds, apply_model_aliases, check_backend
from bot.comfy.client import ComfyClient, RetryPolicy
from bot.comfy.events import EventStream

__all__ = ["Backend", "check_line"]


@dataclass
class Backend:
    client: ComfyClient
    events: EventStream
    report: BackendReport | None = None  # the last capability check
    model_aliases: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.client.name

    @classmethod
    def create(
        cls,
        url: str,
        session: aiohttp.ClientSession,
        *,
        token: str | None = None,
        token_in_query: bool = False,
        client_id: str | None = None,
        retry: RetryPolicy | None = None,
        heartbeat: float = 20.0,
    ) -> "Backend":
        """Build the pair; call `start()` to open the websocket."""
        client = ComfyClient(
            url, session, token=token, token_in_query=token_in_query, client_id=client_id, retry=retry
        )
        return cls(client, EventStream(client, heartbeat=heartbeat))

    async def prepare(self, template: TemplateNeeds) -> BackendReport:
        """Run the capability check; remember where this server keeps the model files."""
        self.report = await check_backend(self.client, template)
        self.model_aliases = dict(self.report.model_aliases)
        return self.report

    def adapt(self, graph: dict[str, Any]) -> dict[str, Any]:
        """The graph as this backend must receive it (model paths resolved)."""
        return apply_model_aliases(graph, self.model_aliases)

    def start(self) -> None:
        self.events.start()

    async def close(self) -> None:
        await self.events.close()


def check_line(report: BackendReport) -> str:
    """The check's result in one log line: `backend <url>: ok (ComfyUI 0.8.0, <GPU>, 22.1 GiB
    free)`, `... cannot run the workflow: node <X> missing: install <pack>; ...` (the report's
    own sentences), or, when it could not be asked, the client's own sentence, which names the
    URL and says why (`backend <url> is not answering (...)`, `... answered 401: the token is
    missing or wrong ...`, `... is not a ComfyUI server ...`)."""
    head = f"backend {report.url}:"
    if not report.reachable:
        return f"backend {report.error}" if report.error else f"{head} not answering"
    if report.ok:
        return f"{head} ok (ComfyUI {report.version}, {report.device}, {report.vram_free / (1 << 30):.1f} GiB free)"
    return f"{head} cannot run the workflow: {'; '.join(report.problems())}"
