"""Blocked words: does a prompt contain a word the guild does not allow?

Both the prompt and every blocked word go through the same `fold`, so trivial disguises
match: letter case ("CAT" / "cat"), full-width forms ("ＣＡＴ", via Unicode NFKC, which also
folds compatibility ideographs and ligatures), invisible format characters slipped between
letters (zero-width joiners and the like), and traditional vs simplified Chinese (貓 / 猫,
謀殺 / 谋杀), converted by OpenCC with its own dictionaries (phrases as well as characters,
Hong Kong and Taiwan variant forms too). Latin words match whole words only, so "ass" does
not block "class"; Chinese has no spaces between words, so Chinese terms match anywhere.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

import opencc

__all__ = ["fold", "BlockedWords"]

_SPACES = re.compile(r"\s+")
_WORDLIKE = re.compile(r"^[\w\s'-]+$", re.ASCII)
# Hong Kong / Taiwan / standard traditional -> mainland simplified. hk2s is t2s plus the
# Hong Kong variant forms (衞, 粧, 衹...), which plain t2s leaves as they are.
_OPENCC_CONFIG = "hk2s"


@cache
def _to_simplified() -> opencc.OpenCC:
    """Built once: loading the dictionaries takes milliseconds, converting a prompt microseconds."""
    return opencc.OpenCC(_OPENCC_CONFIG)


def fold(text: str) -> str:
    """The form used for comparison: NFKC, casefolded, format characters removed,
    traditional Chinese converted to simplified, runs of whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Cf")
    text = _to_simplified().convert(text)
    return _SPACES.sub(" ", text).strip()


@dataclass(frozen=True)
class _Term:
    original: str
    pattern: re.Pattern[str]


def _compile(word: str) -> _Term | None:
    folded = fold(word)
    if not folded:
        return None
    escaped = re.escape(folded)
    if _WORDLIKE.match(folded):
        # Whole words for Latin script; \w in Unicode mode, so "ban" does not match "bañ…".
        escaped = rf"(?<!\w){escaped}(?!\w)"
    return _Term(word, re.compile(escaped))


class BlockedWords:
    """A guild's blocked-word list, compiled once."""

    def __init__(self, words: Iterable[str]) -> None:
        self._terms = tuple(term for term in map(_compile, words) if term is not None)

    def __bool__(self) -> bool:
        return bool(self._terms)

    def find(self, *texts: str) -> str | None:
        """The first blocked word (as the admin wrote it) found in any of `texts`."""
        if not self._terms:
            return None
        for text in texts:
            folded = fold(text)
            for term in self._terms:
                if term.pattern.search(folded):
                    return term.original
        return None
