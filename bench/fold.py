"""What the blocked-word check costs per `/video`: `fold` and `BlockedWords.find` on prompts.

Every prompt (and negative prompt) is folded (NFKC, casefold, invisible characters out,
traditional -> simplified through OpenCC) and searched for a guild's blocked words. Reports
the microseconds per prompt for a short mixed prompt and a long one, the first call (loading
OpenCC's dictionaries) apart. Target: well under a millisecond per prompt.

    .venv/bin/python bench/fold.py [--runs 2000]
"""

from __future__ import annotations

import argparse
import time
import timeit

import _common  # noqa: F401  (sys.path)
from _common import report

from bot.jobs.moderation import BlockedWords, fold

SHORT = "一隻貓在夕陽下衝浪，電影感的光線，慢動作 a cat surfing at sunset, cinematic, 4k"
LONG = (SHORT + "，細節豐富的場景，鏡頭緩慢推進 highly detailed, slow dolly in, ") * 8
WORDS = ["谋杀", "淫秽", "猥亵", "血腥", "gore", "nsfw", "暴力", "毒品", "自杀", "恐怖袭击"] * 5
TARGET_US = 1000.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2000)
    args = parser.parse_args()
    start = time.perf_counter()
    fold("貓")
    first_ms = (time.perf_counter() - start) * 1000
    blocked = BlockedWords(WORDS)

    def per_call_us(call: object) -> float:
        return timeit.timeit(call, number=args.runs) / args.runs * 1e6  # type: ignore[arg-type]

    short_fold, long_fold = per_call_us(lambda: fold(SHORT)), per_call_us(lambda: fold(LONG))
    short_find, long_find = per_call_us(lambda: blocked.find(SHORT)), per_call_us(lambda: blocked.find(LONG))
    verdict = "ok" if long_find < TARGET_US else "MISSED"
    rows = [
        ("first fold (loads OpenCC)", f"{first_ms:.1f} ms", "", ""),
        (f"fold, {len(SHORT)}-char prompt", f"{short_fold:.1f} us", "", ""),
        (f"fold, {len(LONG)}-char prompt", f"{long_fold:.1f} us", "", ""),
        (f"find among {len(WORDS)} words, {len(SHORT)} chars", f"{short_find:.1f} us", "", ""),
        (f"find among {len(WORDS)} words, {len(LONG)} chars", f"{long_find:.1f} us", f"< {TARGET_US:g} us", verdict),
    ]
    report("fold", f"fold: blocked-word check per prompt, {args.runs} runs each", rows, {
        "runs": args.runs, "first_ms": round(first_ms, 2),
        "fold_short_us": round(short_fold, 2), "fold_long_us": round(long_fold, 2),
        "find_short_us": round(short_find, 2), "find_long_us": round(long_find, 2),
        "short_chars": len(SHORT), "long_chars": len(LONG), "words": len(WORDS),
    })


if __name__ == "__main__":
    main()
