"""Live previews on 50 status cards rendering at once, against the fake Discord with Discord's
rate limits on (5 edits per 5 s per channel for the bot token, 5 per 2 s per interaction
webhook, 50 requests per second globally).

Two runs of `--jobs` renders (default 50), one emulated GPU each, all started together:
1. fresh interaction tokens: cards are edited through each interaction's own webhook;
2. tokens that die after a second: cards go on through the bot token, and every card of a
   channel shares that channel's edit limit (`--channels`, default 1: the worst case).

Figures per run: card edits per minute per card (median and max, from each card's first to
its last edit), preview uploads in the busiest 5 s against the budget, the number of 429s
Discord answered to card edits (target 0) and to anything else (the video posts), and the time
from a preview frame arriving at the bot to the card edit showing it (p50, p99; for the newest
frame each edit shows, older ones having been superseded; measured in the bot, from the frame's
arrival on the websocket to Discord's answer to the edit, so it includes the throttle, the
budget, the encode and the upload). The sampler takes `--steps` x `--step-seconds` (default
20 x 0.5 s), one frame a step.

Both fakes run in this process, on the bot's event loop: their work counts against the bot.

    .venv/bin/python bench/preview.py [--jobs 50] [--channels 1] [--steps 20] [--step-seconds 0.5]
                                      [--uploads 5] [--preview still|animated]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import _common  # noqa: F401  (sys.path)
from _common import percentile, report

from cogs.video._status import EDIT_INTERVAL
from tests.e2e._crowd import crowd_world, most_in_a_window
from tests.fakes.discord import StoredMessage

_WINDOW = 5.0
# The routes a card edit takes (bot token; interaction webhook). Other 429s come from posting
# the videos: 50 posts in one channel meet its 5-per-5-s limit, and discord.py, which learns a
# bucket's limit from the answers, sometimes sends one too many at a window's turn.
_CARD_ROUTES = ("/channels/{channel_id}/messages/{message_id}", "/webhooks/{app_id}/{token}/messages/{message_id}")


def _edits_per_minute(card: StoredMessage) -> float:
    times = [edit.at for edit in card.edits]
    if len(times) < 2:
        return 0.0
    return (len(times) - 1) / (times[-1] - times[0]) * 60


async def _run(tmp: Path, args: argparse.Namespace, *, token_lifetime: float | None) -> dict[str, Any]:
    delays: list[float] = []
    comfy = {"steps": args.steps, "step_seconds": args.step_seconds}
    async with crowd_world(tmp, backends=args.jobs, members=args.jobs, channels=args.channels, comfy=comfy,
                           token_lifetime=token_lifetime, preview=args.preview,
                           preview_uploads_per_second=args.uploads) as crowd:
        metrics = crowd.world.services.metrics
        shown = metrics.preview_shown

        def observe(seconds: float) -> None:  # the bot's own measurement, kept sample by sample
            delays.append(seconds)
            shown(seconds)

        metrics.preview_shown = observe  # type: ignore[method-assign]
        started = time.monotonic()
        cards = await crowd.render_all(args.jobs, timeout=600)
        elapsed = time.monotonic() - started
        limited = crowd.world.discord.rate_limited
    on_cards = [e for e in limited if e.route in _CARD_ROUTES]
    per_card = [_edits_per_minute(card) for card in cards]
    uploads = [edit.at for card in cards for edit in card.edits if edit.uploads]
    return {
        "elapsed_s": round(elapsed, 1),
        "edits_per_min_per_card_p50": round(statistics.median(per_card), 1),
        "edits_per_min_per_card_max": round(max(per_card), 1),
        "preview_edits": len(uploads),
        "cards_with_preview": sum(any(e.uploads for e in card.edits) for card in cards),
        "busiest_5s_uploads": most_in_a_window(uploads, _WINDOW),
        "bot_token_edits": sum(edit.via == "channel" for card in cards for edit in card.edits),
        "http_429_card_edits": len(on_cards),
        "http_429_other": len(limited) - len(on_cards),
        "frame_to_edit_p50_s": round(percentile(delays, 50), 2) if delays else None,
        "frame_to_edit_p99_s": round(percentile(delays, 99), 2) if delays else None,
        "frames_shown": len(delays),
    }


def _rows(name: str, run: dict[str, Any], args: argparse.Namespace) -> list[tuple[str, str, str, str]]:
    budget = round(args.uploads * (_WINDOW + 1))
    throttle = 60 / EDIT_INTERVAL
    return [
        (f"{name}: edits/min/card p50 / max", f"{run['edits_per_min_per_card_p50']} / "
         f"{run['edits_per_min_per_card_max']}", f"<= {throttle:g} (2 s throttle)",
         "ok" if run["edits_per_min_per_card_max"] <= throttle + 0.5 else "MISSED"),
        (f"{name}: preview uploads, busiest 5 s", str(run["busiest_5s_uploads"]), f"<= {budget} (budget)",
         "ok" if run["busiest_5s_uploads"] <= budget + 2 else "MISSED"),
        (f"{name}: cards that showed a preview", f"{run['cards_with_preview']}/{args.jobs}", "", ""),
        (f"{name}: 429s on card edits", str(run["http_429_card_edits"]), "0",
         "ok" if run["http_429_card_edits"] == 0 else "MISSED"),
        (f"{name}: 429s elsewhere (video posts)", str(run["http_429_other"]), "", ""),
        (f"{name}: frame -> card edit p50 / p99", f"{run['frame_to_edit_p50_s']} / {run['frame_to_edit_p99_s']} s",
         "", ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--channels", type=int, default=1)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--step-seconds", type=float, default=0.5)
    parser.add_argument("--uploads", type=float, default=5.0, help="WANBOT_PREVIEW_UPLOADS_PER_SECOND")
    parser.add_argument("--preview", choices=("still", "animated"), default="still")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        webhook = asyncio.run(_run(Path(tmp) / "webhook", args, token_lifetime=None))
        bot_token = asyncio.run(_run(Path(tmp) / "bot-token", args, token_lifetime=1.0))
    title = (f"preview: {args.jobs} renders at once ({args.steps} steps x {args.step_seconds} s, {args.preview}), "
             f"{args.channels} channel(s), upload budget {args.uploads:g}/s; fakes in-process")
    rows = _rows("webhook", webhook, args) + _rows("bot token", bot_token, args)
    report("preview", title, rows, {
        "jobs": args.jobs, "channels": args.channels, "steps": args.steps, "step_seconds": args.step_seconds,
        "uploads_per_second": args.uploads, "preview": args.preview,
        "webhook": webhook, "bot_token": bot_token,
    })


if __name__ == "__main__":
    main()
