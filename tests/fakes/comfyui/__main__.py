"""Run the emulator as its own process: `python -m tests.fakes.comfyui --port 0`.

Prints exactly one line, "listening on http://127.0.0.1:PORT", once it accepts connections,
then serves until SIGTERM/SIGINT (or until a test kills it, which is the point).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from tests.fakes.comfyui._failures import FAILURES
from tests.fakes.comfyui._fake import FakeComfyUI
from tests.fakes.comfyui._previews import FRAME_MODES, METHODS


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.fakes.comfyui", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8188, help="0 picks a free port")
    parser.add_argument("--root", default=None, help="folder for output/temp/input (default: a temp dir)")
    parser.add_argument("--steps", type=int, default=4, help="sampler steps; 0 uses the graph's own")
    parser.add_argument("--step-seconds", type=float, default=0.01)
    parser.add_argument("--load-seconds", type=float, default=0.0)
    parser.add_argument("--node-seconds", type=float, default=0.0)
    parser.add_argument("--history-delay", type=float, default=0.05)
    parser.add_argument("--view-delay", type=float, default=0.0)
    parser.add_argument("--require-token", default=None)
    parser.add_argument("--paused", action="store_true")
    parser.add_argument("--fail-execution", type=int, default=0, help="the next N prompts fail")
    parser.add_argument("--failure-kind", default="oom", choices=sorted(FAILURES))
    parser.add_argument("--keep-models", action="store_true",
                        help="skip loaders whose models the previous prompt left loaded (ComfyUI's cache)")
    parser.add_argument("--load-cost", action="append", default=[], metavar="FILE=SECONDS",
                        help="seconds to load this model file (repeatable)")
    parser.add_argument("--model-step-seconds", action="append", default=[], metavar="FILE=SECONDS",
                        help="seconds per sampler step with this diffusion model (repeatable)")
    parser.add_argument("--without-model", action="append", default=[], metavar="FILE",
                        help="this model file is not installed (repeatable): templates needing it are refused")
    parser.add_argument("--vram-gb", type=float, default=None, help="report one CUDA GPU with this much VRAM")
    parser.add_argument("--ignore-prompt-id", action="store_true",
                        help="answer every POST /prompt with a uuid of our own, like ComfyUI before "
                             "client-chosen prompt ids")
    parser.add_argument("--preview-method", default="none", choices=METHODS,
                        help="ComfyUI's --preview-method: used when a prompt names none")
    parser.add_argument("--preview-frames", default="real", choices=FRAME_MODES)
    parser.add_argument("--preview-format", default="JPEG", choices=("JPEG", "PNG"))
    return parser.parse_args(argv)


def _costs(pairs: list[str]) -> dict[str, float]:
    costs = {}
    for pair in pairs:
        name, _, seconds = pair.rpartition("=")
        costs[name] = float(seconds)
    return costs


async def _serve(args: argparse.Namespace) -> None:
    fake = FakeComfyUI(host=args.host, port=args.port, steps=args.steps or None,
                       step_seconds=args.step_seconds, load_seconds=args.load_seconds,
                       node_seconds=args.node_seconds, history_delay=args.history_delay,
                       view_delay=args.view_delay, require_token=args.require_token, paused=args.paused,
                       fail_execution=args.fail_execution, failure_kind=args.failure_kind, root=args.root,
                       ignore_prompt_id=args.ignore_prompt_id, keep_models=args.keep_models,
                       load_costs=_costs(args.load_cost), model_step_seconds=_costs(args.model_step_seconds),
                       vram_gb=args.vram_gb, preview_method=args.preview_method,
                       preview_frames=args.preview_frames, preview_format=args.preview_format)
    if args.without_model:
        fake.models = {folder: [name for name in names if name not in args.without_model]
                       for folder, names in fake.models.items()}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with fake:
        print(f"listening on {fake.url}", flush=True)
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    asyncio.run(_serve(_parse(sys.argv[1:] if argv is None else argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
