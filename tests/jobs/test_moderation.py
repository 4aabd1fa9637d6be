"""Blocked words: case, full-width, invisible characters, traditional/simplified, word edges."""

from __future__ import annotations

import pytest

from bot.jobs import BlockedWords, fold


@pytest.mark.parametrize(
    ("blocked", "prompt"),
    [
        ("abc", "a video of ABC dancing"),
        ("abc", "a video of ＡＢＣ dancing"),  # full-width letters
        ("ＡＢＣ", "abc"),
        ("abc", "a\u200bbc in the rain"),  # zero-width space slipped in
        ("猫", "一只貓在冲浪"),  # traditional prompt, simplified word
        ("貓", "一只猫在冲浪"),  # simplified prompt, traditional word
        ("血腥", "血腥的場面"),
        ("gore", "Gore, lots of it"),
        ("two words", "a clip with TWO   WORDS in it"),
    ],
)
def test_matches(blocked: str, prompt: str) -> None:
    assert BlockedWords([blocked]).find(prompt) == blocked


@pytest.mark.parametrize(
    ("blocked", "prompt"),
    [
        ("ass", "a class of students"),
        ("gore", "Gorey-esque illustrations"),
        ("猫", "一只狗在冲浪"),
    ],
)
def test_does_not_match(blocked: str, prompt: str) -> None:
    assert BlockedWords([blocked]).find(prompt) is None


def test_finds_in_the_negative_prompt_too_and_reports_the_word_as_written() -> None:
    words = BlockedWords(["Nope", "貓"])
    assert words.find("fine prompt", "nope") == "Nope"
    assert not BlockedWords([" ", ""])


# Common characters the old hand-made table missed, in words a guild may well block.
TRADITIONAL_AND_SIMPLIFIED = [
    ("謀殺", "谋杀"), ("淫穢", "淫秽"), ("猥褻", "猥亵"), ("壓", "压"), ("準", "准"), ("鑽", "钻"), ("擇", "择"),
    ("嗎", "吗"), ("頭髮", "头发"), ("鬥毆", "斗殴"),
]


@pytest.mark.parametrize(("traditional", "simplified"), TRADITIONAL_AND_SIMPLIFIED)
def test_a_word_blocked_in_simplified_matches_a_traditional_prompt(traditional: str, simplified: str) -> None:
    assert BlockedWords([simplified]).find(f"一段{traditional}的影片") == simplified


@pytest.mark.parametrize(("traditional", "simplified"), TRADITIONAL_AND_SIMPLIFIED)
def test_a_word_blocked_in_traditional_matches_a_simplified_prompt(traditional: str, simplified: str) -> None:
    assert BlockedWords([traditional]).find(f"一段{simplified}的视频") == traditional


def test_folding_chinese_keeps_case_width_and_invisible_character_folding() -> None:
    assert BlockedWords(["谋杀 SCENE"]).find("一個謀\u200b殺 ｓｃｅｎｅ") == "谋杀 SCENE"
    assert fold("ＧＯＲＥ 壓力") == "gore 压力"


def test_fold_is_idempotent() -> None:
    text = "電腦前的貓 ＡＢＣ Straße 頭髮乾淨 谋杀"
    assert fold(fold(text)) == fold(text)
