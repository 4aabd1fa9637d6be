"""Seeds: the accepted range and how a missing seed is drawn.

Accepted: 0 .. 2**53 - 1. The samplers take 0 .. 2**64 - 1, but a Discord integer option and
a JavaScript number (ComfyUI's web UI, anything that reads our JSON in a browser) are exact
only up to 2**53 - 1; a larger seed would come back changed and the clip would not reproduce.
Drawn: 0 .. 2**32 - 1, so a reported seed is at most ten digits and easy to type back, and it
stays valid for nodes that hand the seed to numpy (which refuses seeds of 2**32 and above).
The random source is injected so tests get the same seed every run.
"""

from __future__ import annotations

import random
from typing import Final

__all__ = ["RANDOM_SEED_MAX", "SEED_MAX", "draw_seed"]

SEED_MAX: Final = 2**53 - 1
RANDOM_SEED_MAX: Final = 2**32 - 1

# Unpredictable by default: seeds are not secrets, but two bots started at the same moment
# should not draw the same sequence.
_SYSTEM_RANDOM: Final = random.SystemRandom()


def draw_seed(rng: random.Random | None = None) -> int:
    """A fresh seed in 0 .. RANDOM_SEED_MAX from `rng` (the system source when None)."""
    return (rng or _SYSTEM_RANDOM).randint(0, RANDOM_SEED_MAX)
