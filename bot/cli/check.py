"""`wanbot check`: for every backend, can it run the configured workflow? A table, and exit 0
only when every backend can."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

import aiohttp

from bot.comfy.backend import Backend
from bot.comfy.capabilities import BackendReport, check_backend
from bot.settings import load_settings
from bot.workflows.template import TemplateError, load_template

__all__ = ["check_command", "format_reports"]


def _gib(value: int) -> str:
    return f"{value / (1 << 30):.1f} GiB"


def format_reports(template_name: str, reports: list[BackendReport]) -> str:
    rows = [("backend", "status", "ComfyUI", "device", "VRAM free")]
    for r in reports:
        status = "OK" if r.ok else ("UNREACHABLE" if not r.reachable else "MISSING")
        vram = f"{_gib(r.vram_free)} / {_gib(r.vram_total)}" if r.reachable else "-"
        rows.append((r.url, status, r.version if r.reachable else "-", r.device if r.reachable else "-", vram))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"workflow: {template_name}", ""]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    for r in reports:
        for problem in r.problems():
            lines.append(f"  {r.url}: {problem}")
        for note in r.notes:
            lines.append(f"  {r.url}: note: {note}")
    ok = sum(r.ok for r in reports)
    lines += ["", f"{ok} of {len(reports)} backend(s) can run {template_name}"]
    return "\n".join(lines)


async def check_command(args: argparse.Namespace) -> int:
    overrides: dict[str, Any] = {}
    if args.comfyui:
        overrides["comfyui_urls"] = args.comfyui
    if args.workflow:
        overrides["workflow"] = args.workflow
    settings = load_settings(**overrides)
    try:
        template = load_template(settings.workflow)
    except TemplateError as exc:
        print(f"wanbot: {exc}", file=sys.stderr)
        return 2
    token = settings.comfyui_token.get_secret_value() if settings.comfyui_token else None
    async with aiohttp.ClientSession() as session:
        backends = [Backend.create(url, session, token=token) for url in settings.comfyui_urls]
        reports = await asyncio.gather(*(check_backend(b.client, template) for b in backends))
    print(format_reports(template.name, list(reports)))
    return 0 if all(r.ok for r in reports) else 1
