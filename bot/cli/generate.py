"""`wanbot generate`: one clip through the same client the bot uses, no Discord.

What can be known wrong before the GPU is asked is refused first (exit 2): the template, an
option the template does not bind or a value outside its limits, an output that cannot be
written, a start picture (`--image`) that cannot be read or is not a usable picture. With
`--image` the template is an image-to-video one (`--workflow`, else the first of that kind in
WANBOT_WORKFLOW) and the fitted picture goes up with the prompt (`bot.comfy.render`). Then the prompt goes to ComfyUI at once, with no capability probe: a server that can
run the graph is not kept waiting for questions. Only when it rejects the graph are `wanbot
check`'s probes run, to name the missing node pack or model file, or to find the models kept
under another path (a "wan2.1/" subfolder) and send the graph once more with those paths.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bot.cli.options import OPTIONS, WANBOT_RANGES, Ranges, add_generate_options, bound_flags, unbound_flags
from bot.cli.progress import ProgressLine
from bot.comfy.backend import Backend
from bot.comfy.errors import ComfyError, ValidationFailed
from bot.comfy.render import InputImage, RenderHooks, RenderResult, render
from bot.comfy.watch import Watch
from bot.settings import Settings, SettingsError, load_settings
from bot.workflows.catalog import load_templates, pick_template
from bot.workflows.request import RequestInvalid, VideoRequest
from bot.workflows.template import Template, TemplateError, load_template

__all__ = ["generate_command", "configured_workflow", "output_problem"]

EXIT_FAILED, EXIT_USAGE = 1, 2


class _Refused(Exception):
    """The command cannot run as given; nothing was sent anywhere."""


@dataclass(frozen=True)
class _Job:
    settings: Settings
    template: Template
    request: VideoRequest
    dest: Path
    images: tuple[InputImage, ...] = ()


def configured_workflow(settings: Settings) -> str:
    """The first template WANBOT_WORKFLOW lists (the settings refuse one that lists none):
    what `generate` uses without `--workflow` when it is of the kind the request needs."""
    return settings.workflows[0]


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(**({"comfyui_urls": args.comfyui} if args.comfyui else {}))


def output_problem(dest: Path) -> str | None:
    """Why `dest` cannot be written, or None. Creates its missing folders, as the download would."""
    if dest.is_dir():
        return f"cannot write {dest}: it is a folder (give a file name, e.g. {dest / 'out.mp4'})"
    existing = next((p for p in dest.parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        return f"cannot write {dest}: {existing} is a file, not a folder"
    part = dest.with_name(dest.name + ".part")  # the download writes here first
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        part.open("wb").close()
        part.unlink()
    except OSError as exc:
        return f"cannot write {dest}: {exc.strerror or exc}"
    return None


def _template(args: argparse.Namespace, settings: Settings) -> Template:
    """--workflow, else the first template of WANBOT_WORKFLOW of the kind the request needs
    (image-to-video with --image). Raises _Refused, naming what to give instead."""
    image = args.image is not None
    try:
        if args.workflow:
            return _of_kind(load_template(args.workflow), image)
        first = load_template(configured_workflow(settings))
        if first.starts_from_image == image:
            return first
        return pick_template(load_templates(settings.workflows), None, image=image)
    except TemplateError as exc:
        raise _Refused(str(exc)) from None
    except RequestInvalid:
        raise _Refused("--image needs an image-to-video template and WANBOT_WORKFLOW has none: give --workflow "
                       "wan-wrapper-i2v (or wan-native-i2v), or add one to WANBOT_WORKFLOW" if image else
                       "every template in WANBOT_WORKFLOW starts from a picture: give --image PATH, or --workflow "
                       "a text-to-video template") from None


def _of_kind(template: Template, image: bool) -> Template:
    if template.starts_from_image and not image:
        raise _Refused(f"template {template.name!r} starts from a picture: give --image PATH (PNG, JPEG or WebP)")
    if image and not template.starts_from_image:
        raise _Refused(f"template {template.name!r} is text-to-video and cannot use --image; give --workflow an "
                       "image-to-video template (wan-wrapper-i2v, wan-native-i2v)")
    return template


def _start_image(path: Path, template: Template, request: VideoRequest) -> InputImage:
    """The picture checked and fitted to the request's frame, ready to upload. Raises _Refused."""
    # Imported here: Pillow costs every other `generate` start-up time for nothing.
    from bot.workflows.start_image import check_declared_size, fit_start_image

    try:
        if path.is_dir():
            raise _Refused(f"cannot read --image {path}: it is a folder")
        check_declared_size(path.stat().st_size)
        fitted = fit_start_image(path.read_bytes(), request.width, request.height)
    except FileNotFoundError:
        raise _Refused(f"cannot read --image {path}: no such file") from None
    except OSError as exc:
        raise _Refused(f"cannot read --image {path}: {exc.strerror or exc}") from None
    except RequestInvalid as exc:
        raise _Refused(f"--image {path}: {exc.render('en')}") from None
    return InputImage(f"generate-{fitted.sha256[:16]}.png", fitted.png, tuple(template.image_targets))


def _preflight(args: argparse.Namespace) -> _Job:
    """Everything checked before the server is asked anything. Raises _Refused or SettingsError."""
    settings = _settings(args)
    template = _template(args, settings)
    ranges = Ranges.of(template)
    unbound = unbound_flags(args, ranges)
    if unbound:
        raise _Refused(f"template {template.name!r} has no binding for {', '.join(unbound)}; "
                       f"it binds: {', '.join(bound_flags(ranges))}")
    given = {o.param: getattr(args, o.param) for o in OPTIONS if getattr(args, o.param) is not None}
    try:
        request = VideoRequest.build(template, prompt=args.prompt, **given)
    except RequestInvalid as exc:
        raise _Refused(exc.render("en")) from None
    images = (_start_image(Path(args.image), template, request),) if args.image is not None else ()
    dest = Path(args.output)
    problem = output_problem(dest)
    if problem:
        raise _Refused(problem)
    return _Job(settings, template, request, dest, images)


def _help_text(args: argparse.Namespace) -> str:
    """`generate --help`, with the ranges and defaults of the template that would be used."""
    try:
        template = _template(args, _settings(args))
        where = "built in" if template.source == template.name else f"from {template.source}"
        ranges, source = Ranges.of(template), f"template {template.name!r} ({where})"
    except (SettingsError, _Refused) as exc:
        ranges, source = WANBOT_RANGES, f"wanbot's own; the template could not be loaded: {str(exc).splitlines()[0]}"
    parser = argparse.ArgumentParser(prog="wanbot generate", description="Render one clip from the terminal.",
                                     epilog=f"Ranges and defaults: {source}.", add_help=False)
    add_generate_options(parser, ranges)
    return parser.format_help()


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    for line in message.splitlines():
        print(f"wanbot: {line}", file=sys.stderr)
    return code


async def generate_command(args: argparse.Namespace) -> int:
    """Run `wanbot generate` once; meant to be the whole life of its process."""
    # Everything loaded so far (aiohttp, pydantic, the templates) lives until exit: frozen, the
    # collector never scans it again, at exit either, where that scan was ~100 ms of teardown.
    gc.freeze()
    if args.help:
        print(await asyncio.to_thread(_help_text, args), end="")
        return 0
    try:
        job = await asyncio.to_thread(_preflight, args)
    except _Refused as exc:
        return _fail(str(exc), EXIT_USAGE)
    settings = job.settings
    graph = job.template.render(job.request.to_params())
    token = settings.comfyui_token.get_secret_value() if settings.comfyui_token else None
    progress = ProgressLine(graph)
    prompt_id = str(uuid.uuid4())  # one id for both tries: a rejected prompt was never queued
    async with aiohttp.ClientSession() as session:
        backend = Backend.create(settings.comfyui_urls[0], session, token=token,
                                 token_in_query=settings.comfyui_token_in_query)
        backend.start()
        ticker = asyncio.create_task(_tick(progress))
        try:
            result = await _run(backend, job, graph, progress, prompt_id)
        except ComfyError as exc:
            progress.close()
            return _fail(exc.reason)
        except asyncio.CancelledError:  # Ctrl-C: `render` has taken our prompt off the server
            progress.close()
            raise
        finally:
            ticker.cancel()
            await backend.close()
    progress.finish()
    _print_result(args, job, result)
    return 0


async def _tick(progress: ProgressLine) -> None:
    while True:
        await asyncio.sleep(1.0)
        progress.tick()


async def _run(backend: Backend, job: _Job, graph: dict[str, Any], progress: ProgressLine,
               prompt_id: str) -> RenderResult:
    await backend.events.wait_connected(3.0)  # without it we poll; no reason to fail
    try:
        return await _render(backend, job, graph, progress, prompt_id)
    except ValidationFailed as rejection:
        graph = await _explain_or_adapt(backend, job.template, graph, rejection)
    # The rejected prompt was never queued: its id is free for the second try.
    return await _render(backend, job, graph, progress, prompt_id)


async def _render(backend: Backend, job: _Job, graph: dict[str, Any], progress: ProgressLine,
                  prompt_id: str) -> RenderResult:
    return await render(
        backend.client, backend.events, graph, job.dest,
        max_bytes=job.settings.max_download_mb << 20,
        watch=Watch(stall_seconds=job.settings.stall_seconds), hooks=RenderHooks(on_progress=progress),
        prompt_id=prompt_id, cancel_on_cancel=True, images=job.images,
    )


async def _explain_or_adapt(backend: Backend, template: Template, graph: dict[str, Any],
                            rejection: ValidationFailed) -> dict[str, Any]:
    """After a rejection, the capability check: the graph to send once more when the server only
    keeps the models under other paths; otherwise raises what the check (or ComfyUI) says is wrong."""
    report = (await backend.prepare({template.name: template}))[template.name]
    if report.reachable and not report.ok:
        raise ValidationFailed(f"{backend.name} cannot run {template.name}: " + "; ".join(report.problems()),
                               backend=backend.name, kind=rejection.kind, problems=rejection.problems,
                               missing_packs=rejection.missing_packs)
    if backend.model_aliases and any(p.kind == "value_not_in_list" for p in rejection.problems):
        return backend.adapt(graph)
    raise rejection


def _print_result(args: argparse.Namespace, job: _Job, result: RenderResult) -> None:
    seed = job.request.seed
    if args.json:
        print(json.dumps({"prompt_id": result.prompt_id, "seed": seed, "output": str(result.path),
                          "bytes": result.bytes, "queued_s": round(result.queued_s, 3),
                          "running_s": round(result.running_s, 3), "download_s": round(result.download_s, 3)}))
        return
    print(f"wrote {result.path} ({result.bytes} bytes, seed {seed}) in {result.queued_s:.1f}s queued + "
          f"{result.running_s:.1f}s running + {result.download_s:.2f}s download")

