"""The video feature's pure pieces, without a bot: option mapping, text made safe for embeds,
and how expected errors read in both languages (`cogs._errors`)."""

from __future__ import annotations

import discord
import pytest

from bot.delivery.fit import CannotFit
from bot.jobs.refusal import MESSAGES, AdmissionRefused, Refusal
from bot.workflows import RequestInvalid, VideoRequest
from cogs._errors import describe, token_is_dead
from cogs.video._card import safe_text
from cogs.video._options import VideoOptions, frames_for


def test_durations_are_4k_plus_1_frames_at_16_fps() -> None:
    assert [frames_for(s) for s in range(1, 6)] == [17, 33, 49, 65, 81]
    params = VideoOptions("a cat", size="portrait", duration=3).params()
    assert (params["width"], params["height"], params["frames"], params["fps"]) == (480, 832, 49, 16)
    request = VideoRequest.build(None, **VideoOptions("a cat", size="square", duration=1, steps=10).params())
    assert (request.width, request.height, request.frames, request.steps) == (624, 624, 17, 10)


def test_unset_options_fall_back_to_the_template() -> None:
    params = VideoOptions("一只猫").params()
    assert "width" not in params and "frames" not in params and params["seed"] is None


def _utf16(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@pytest.mark.parametrize("limit", [10, 11, 100])
def test_safe_text_escapes_and_fits_in_utf16_units(limit: int) -> None:
    text = "@everyone <@&123456789012345678> **bold** 🐉🐉🐉🐉🐉 龙龙龙龙" * 3
    shown = safe_text(text, limit)
    assert _utf16(shown) <= limit and shown.endswith("…")
    assert "@everyone" not in shown.replace("@\u200beveryone", "")
    assert not shown[:-1].endswith("\\") or shown[:-1].endswith("\\\\")
    assert safe_text("short", 100) == "short"


def test_expected_errors_read_in_both_languages() -> None:
    refused = AdmissionRefused(Refusal.RATE_LIMITED, 1_000.0 + 90, MESSAGES["RATE_LIMITED"],
                               {"per_hour": "2", "burst": 1})
    assert describe(refused, "en-US", now=1_000.0) == (
        "You have used your videos for now (2 per hour, 1 in a row). You can make another video in 2 min.")
    assert describe(refused, "zh-CN", now=1_000.0).startswith("你暂时用完了生成次数")  # type: ignore[union-attr]
    with pytest.raises(RequestInvalid) as invalid:
        VideoRequest.build(None, prompt="")
    assert describe(invalid.value, "zh-CN", now=0).startswith("提示词是空的")  # type: ignore[union-attr]
    assert "10.0 MB" in (describe(CannotFit(30 << 20, 10 << 20, 5.0), "en-US") or "")
    assert describe(ValueError("a bug"), "en-US") is None  # unexpected: the caller logs it


class _Response:
    def __init__(self, status: int) -> None:
        self.status = status
        self.reason = "x"


def test_discord_errors_by_code() -> None:
    expired = discord.HTTPException(_Response(401), {"code": 50027, "message": "Invalid Webhook Token"})  # type: ignore[arg-type]
    forbidden = discord.Forbidden(_Response(403), {"code": 50013, "message": "Missing Permissions"})  # type: ignore[arg-type]
    assert token_is_dead(expired) and not token_is_dead(forbidden)
    assert describe(forbidden, "zh-CN") == "我没有在此频道发言的权限。请管理员在此频道给我“发送消息”“嵌入链接”和“附加文件”权限。"
    assert describe(expired, "en-US") == "This has expired. Please run the command again."
