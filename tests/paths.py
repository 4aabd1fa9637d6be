"""Where the shared captures live: `shared/` beside the checkout (found by walking up)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any


@cache
def captures_dir() -> Path:
    for parent in Path(__file__).resolve().parents:
        candidate = parent / "shared" / "data" / "comfyui"
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError("shared/data/comfyui not found beside the checkout")


def capture(name: str) -> Any:
    return json.loads((captures_dir() / name).read_text(encoding="utf-8"))
