"""A backend is one ComfyUI server as the bot sees it: its HTTP client and its event stream,
the result of its last capability check (one report per template), and `check_line`, that
result as one line for the bot's log."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bot.comfy.capabilities import BackendReport, TemplateNeeds, apply_model_aliases, check_workflows
from bot.comfy.client import ComfyClient, RetryPolicy
from bot.comfy.events import EventStream

__all__ = ["Backend", "check_line"]


@dataclass
class Backend:
    client: ComfyClient
    events: EventStream
    # The last capability check, by template name (every report shares the server's version,
    # device and VRAM; each says whether that template can run here).
    reports: dict[str, BackendReport] = field(default_factory=dict)
    model_aliases: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.client.name

    @property
    def report(self) -> BackendReport | None:
        """The server as the last check found it (version, device, VRAM), or None before one."""
        return next(iter(self.reports.values()), None)

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

    async def prepare(self, templates: Mapping[str, TemplateNeeds]) -> dict[str, BackendReport]:
        """Run the capability check of each template; remember where this server keeps the
        model files (a file's place does not depend on the template that needs it)."""
        self.reports = await check_workflows(self.client, templates)
        self.model_aliases = {alias: path for report in self.reports.values()
                              for alias, path in report.model_aliases.items()}
        return self.reports

    def adapt(self, graph: dict[str, Any]) -> dict[str, Any]:
        """The graph as this backend must receive it (model paths resolved)."""
        return apply_model_aliases(graph, self.model_aliases)

    def start(self) -> None:
        self.events.start()

    async def close(self) -> None:
        await self.events.close()


def check_line(reports: Mapping[str, BackendReport]) -> str:
    """The check's result in one log line: `backend <url>: ok (ComfyUI 0.8.0, <GPU>, 22.1 GiB
    free)`; with several templates, which it runs and why not the others (`backend <url>: runs
    a (...); cannot run b: needs 24 GB of VRAM; ...`); `... cannot run the workflow: node <X>
    missing: install <pack>; ...` when it runs none (the report's own sentences); or, when it
    could not be asked, the client's own sentence, which names the URL and says why (`backend
    <url> is not answering (...)`, `... answered 401: the token is missing or wrong ...`)."""
    first = next(iter(reports.values()))
    head = f"backend {first.url}:"
    if not first.reachable:
        return f"backend {first.error}" if first.error else f"{head} not answering"
    system = f"ComfyUI {first.version}, {first.device}, {first.vram_free / (1 << 30):.1f} GiB free"
    able = [name for name, report in reports.items() if report.ok]
    unable = [f"cannot run {name}: {'; '.join(report.problems())}"
              for name, report in reports.items() if not report.ok]
    if not unable:
        return f"{head} ok ({system})"
    if not able:
        if len(reports) == 1:
            return f"{head} cannot run the workflow: {'; '.join(first.problems())}"
        return f"{head} {'; '.join(unable)}"
    return f"{head} runs {', '.join(able)} ({system}); {'; '.join(unable)}"
