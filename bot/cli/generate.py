"""`wanbot generate`: one clip through the same client the bot uses, no Discord."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from bot.cli.progress import ProgressLine
from bot.comfy.backend import Backend
from bot.comfy.errors import ComfyError
from bot.comfy.render import RenderHooks, render
from bot.comfy.watch import Watch
from bot.settings import Settings, load_settings
from bot.workflows.request import RequestInvalid, VideoRequest
from bot.workflows.template import Template, TemplateError, load_template

__all__ = ["generate_command"]

_PARAMS = {"negative": "negative_prompt", "seed": "seed", "steps": "steps", "cfg": "cfg", "shift": "shift",
           "width": "width", "height": "height", "frames": "frames", "fps": "fps"}


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    if args.comfyui:
        overrides["comfyui_urls"] = args.comfyui
    if args.workflow:
        overrides["workflow"] = args.workflow
    return load_settings(**overrides)


def _request(args: argparse.Namespace, template: Template) -> VideoRequest:
    raw = {field: getattr(args, arg) for arg, field in _PARAMS.items() if getattr(args, arg) is not None}
    return VideoRequest.build(template, prompt=args.prompt, **raw)


def _fail(message: str, code: int = 1) -> int:
    print(f"wanbot: {message}", file=sys.stderr)
    return code


async def generate_command(args: argparse.Namespace) -> int:
    settings = _settings(args)
    try:
        template = load_template(settings.workflow)
        request = _request(args, template)
    except TemplateError as exc:
        return _fail(str(exc), 2)
    except RequestInvalid as exc:
        return _fail(exc.render("en"), 2)
    graph = template.render(request.to_params())
    token = settings.comfyui_token.get_secret_value() if settings.comfyui_token else None
    progress = ProgressLine()
    prompt_id = str(uuid.uuid4())  # chosen here so Ctrl-C can cancel exactly this prompt
    async with aiohttp.ClientSession() as session:
        backend = Backend.create(settings.comfyui_urls[0], session, token=token,
                                 token_in_query=settings.comfyui_token_in_query)
        backend.start()
        try:
            report = await backend.prepare(template)
            if not report.reachable:  # asking again to submit would only double the wait
                return _fail(report.error or f"{backend.name} is not answering")
            if not report.ok:
                return _fail(f"{backend.name} cannot run {template.name}: " + "; ".join(report.problems()))
            graph = backend.adapt(graph)
            await backend.events.wait_connected(3.0)  # without it we poll; no reason to fail
            result = await render(
                backend.client, backend.events, graph, Path(args.output),
                max_bytes=settings.max_download_mb << 20,
                watch=Watch(stall_seconds=settings.stall_seconds), hooks=RenderHooks(on_progress=progress),
                prompt_id=prompt_id, cancel_on_cancel=True,
            )
        except ComfyError as exc:
            progress.done()
            return _fail(exc.reason)
        except asyncio.CancelledError:
            progress.done()
            await _cancel_quietly(backend, prompt_id)
            raise
        finally:
            await backend.close()
    progress.done()
    summary = {"prompt_id": result.prompt_id, "seed": request.seed, "output": str(result.path),
               "bytes": result.bytes, "queued_s": round(result.queued_s, 3),
               "running_s": round(result.running_s, 3), "download_s": round(result.download_s, 3)}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {result.path} ({result.bytes} bytes, seed {request.seed}) in "
              f"{result.queued_s:.1f}s queued + {result.running_s:.1f}s running + {result.download_s:.2f}s download")
    return 0


async def _cancel_quietly(backend: Backend, prompt_id: str) -> None:
    """Ctrl-C: take our prompt off the GPU (ours only) before leaving."""
    try:
        await asyncio.shield(backend.client.cancel(prompt_id))
    except (ComfyError, asyncio.CancelledError):
        pass
