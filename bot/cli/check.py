"""`wanbot check`: which configured workflows can each backend run? One table with a column per
workflow and the problems under it (a missing node pack or model file, too little VRAM). The
bot gives each backend the jobs of the workflows it can run, so a mixed cluster is fine: exit 0
when every backend answers and can run at least one workflow, and every workflow can run on
at least one backend."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import aiohttp

from bot.comfy.capabilities import BackendReport, check_workflows
from bot.comfy.client import ComfyClient
from bot.settings import Settings, load_settings
from bot.workflows import load_templates

__all__ = ["check_command", "cluster_ok", "format_reports"]

# One backend's reports, by workflow name, in the configured order.
Reports = Mapping[str, BackendReport]


def _gib(value: int) -> str:
    return f"{value / (1 << 30):.1f} GiB"


def _together(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _row(reports: Reports, names: Sequence[str]) -> tuple[str, ...]:
    first = reports[names[0]]
    if not first.reachable:
        return (first.url, "-", "-", "-", *(reports[name].status for name in names))
    vram = f"{_gib(first.vram_free)} / {_gib(first.vram_total)}"
    return (first.url, first.version, first.device, vram, *(reports[name].status for name in names))


def _problem_lines(reports: Reports, names: Sequence[str]) -> list[str]:
    first = reports[names[0]]
    if not first.reachable:
        return [f"  {first.error}"]  # the reason names the backend; said once, not per workflow
    lines: list[str] = []
    for name in names:
        workflow = f"{name}: " if len(names) > 1 else ""
        for problem in reports[name].problems():
            where = "" if problem.startswith(first.url) else f"{first.url}: "
            lines.append(f"  {where}{workflow}{problem}")
    notes = dict.fromkeys(note for name in names for note in reports[name].notes)
    return lines + [f"  {first.url}: note: {note}" for note in notes]


def format_reports(names: Sequence[str], results: Sequence[Reports]) -> str:
    """The table (a status column per workflow), each backend's problems, and a summary line."""
    rows = [("backend", "ComfyUI", "device", "VRAM free", *names)]
    rows += [_row(reports, names) for reports in results]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [f"workflow{'s' if len(names) > 1 else ''}: {', '.join(names)}", ""]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    for reports in results:
        lines += _problem_lines(reports, names)
    able = sum(all(report.ok for report in reports.values()) for reports in results)
    lines += ["", f"{able} of {len(results)} backend(s) can run {_together(names)}"]
    if len(names) > 1 and able < len(results):
        lines += [f"{sum(reports[name].ok for reports in results)} of {len(results)} backend(s) can run {name}"
                  for name in names]
    return "\n".join(lines)


def cluster_ok(names: Sequence[str], results: Sequence[Reports]) -> bool:
    """Every backend can run some workflow and every workflow runs on some backend."""
    every_backend = all(any(report.ok for report in reports.values()) for reports in results)
    return every_backend and all(any(reports[name].ok for reports in results) for name in names)


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.comfyui:
        overrides["comfyui_urls"] = args.comfyui
    if args.workflow:
        overrides["workflow"] = args.workflow
    return load_settings(**overrides)


async def check_command(args: argparse.Namespace) -> int:
    settings = _settings(args)
    templates = load_templates(settings.workflows)
    token = settings.comfyui_token.get_secret_value() if settings.comfyui_token else None
    async with aiohttp.ClientSession() as session:
        clients = [ComfyClient(url, session, token=token) for url in settings.comfyui_urls]
        results = await asyncio.gather(*(check_workflows(client, templates) for client in clients))
    print(format_reports(list(templates), results))
    return 0 if cluster_ok(list(templates), results) else 1
