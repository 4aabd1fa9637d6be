"""A backend is one ComfyUI server as the bot sees it: its HTTP client and its event stream."""

from __future__ import annotations

from dataclasses import dataclass

import aiohttp

from bot.comfy.client import ComfyClient, RetryPolicy
from bot.comfy.events import EventStream

__all__ = ["Backend"]


@dataclass
class Backend:
    client: ComfyClient
    events: EventStream

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

    def start(self) -> None:
        self.events.start()

    async def close(self) -> None:
        await self.events.close()
