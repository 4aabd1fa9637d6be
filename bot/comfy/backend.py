"""A backend is one ComfyUI server as the bot sees it: its HTTP client and its event stream."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.comfy.capabilities import BackendReport, TemplateNeeds, apply_model_aliases, check_backend
from bot.comfy.client import ComfyClient, RetryPolicy
from bot.comfy.events import EventStream

log = logging.getLogger(__name__)

__all__ = ["Backend"]


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
        if self.report.reachable and not self.report.ok:
            log.error("backend %s cannot run the workflow: %s", self.name, "; ".join(self.report.problems()))
        return self.report

    def adapt(self, graph: dict[str, Any]) -> dict[str, Any]:
        """The graph as this backend must receive it (model paths resolved)."""
        return apply_model_aliases(graph, self.model_aliases)

    def start(self) -> None:
        self.events.start()

    async def close(self) -> None:
        await self.events.close()
