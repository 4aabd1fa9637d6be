"""Blocked words: case, full-width, invisible characters, traditional/simplified, word edges."""

from __future__ import annotations

import pytest

from bot.jobs import BlockedWords, fold
from bot.jobs._hanzi import TRADITIONAL_TO_SIMPLIFIED


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


def test_fold_is_idempotent_and_the_table_never_maps_to_a_key() -> None:
    text = "電腦前的貓 ＡＢＣ Straße"
    assert fold(fold(text)) == fold(text)
    simplified = set(TRADITIONAL_TO_SIMPLIFIED.values())
    assert not {ord(ch) for ch in simplified} & set(TRADITIONAL_TO_SIMPLIFIED)
