"""WANBOT_ENCODE_CONCURRENCY: read and checked at start-up, and it reaches the bot's encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.settings import SettingsError, load_settings
from tests.e2e._video_helpers import video_world
from tests.e2e.conftest import bot_delivery


def test_the_setting_defaults_to_one_and_refuses_zero(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.delenv("WANBOT_ENCODE_CONCURRENCY", raising=False)
    assert load_settings().encode_concurrency == 1
    monkeypatch.setenv("WANBOT_ENCODE_CONCURRENCY", "0")
    with pytest.raises(SettingsError) as info:
        load_settings()
    (line,) = info.value.lines
    assert line.startswith("WANBOT_ENCODE_CONCURRENCY:") and "example: 1" in line


async def test_the_bot_encodes_as_many_at_once_as_configured(tmp_path: Path) -> None:
    async with video_world(tmp_path, encode_concurrency=3) as world:
        delivery: Any = bot_delivery(world)  # the VideoDelivery the video cog started the services with
        assert delivery.encoder.concurrency == 3
