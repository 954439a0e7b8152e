"""Text normalisation shared by the tokenizer, the retriever and the classifiers.

Everything that compares fan text with knowledge-base text goes through `normalize` first, so that
full-width letters, traditional characters, upper case, emoji and odd whitespace never decide a match.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from functools import lru_cache

# Fans paste whole articles; nothing past this length helps matching and it costs latency.
MAX_CHARS = 256

# Emoji, pictographs, dingbats, variation selectors, zero-width joiners and similar decoration.
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # mahjong … symbols & pictographs extended-A
    "\u2600-\u27bf"  # misc symbols, dingbats
    "\u2b00-\u2bff"  # arrows and stars
    "\ufe00-\ufe0f"  # variation selectors
    "\u200b-\u200f\u2060\ufeff"  # zero-width characters
    "\U000e0000-\U000e007f"  # tag characters (flag sequences)
    "]+"
)
_SPACE = re.compile(r"\s+")

_converter_lock = threading.Lock()


@lru_cache(maxsize=1)
def _t2s():  # type: ignore[no-untyped-def]
    """The OpenCC traditional→simplified converter, or None when opencc is not installed."""
    try:
        import opencc
    except ImportError:  # degrade gracefully: simplified text still works
        return None
    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Convert traditional characters to simplified ones (identity when opencc is unavailable)."""
    converter = _t2s()
    if converter is None:
        return text
    with _converter_lock:  # the C++ converter is not documented as thread-safe
        return converter.convert(text)


def normalize(text: str | None, max_chars: int = MAX_CHARS) -> str:
    """Canonical form of a message: NFKC (full-width → half-width), simplified, lower case,
    no emoji, single spaces, at most `max_chars` characters."""
    if not text:
        return ""
    # Cut early so a 10,000-character message costs no more than a long question; the margin
    # leaves room for characters that NFKC or emoji removal drop.
    text = text[: max_chars * 4]
    text = unicodedata.normalize("NFKC", text)
    text = _EMOJI.sub(" ", text)
    text = "".join(ch for ch in text if unicodedata.category(ch)[0] != "C" or ch in "\t\n")
    text = to_simplified(text).lower()
    text = _SPACE.sub(" ", text).strip()
    return text[:max_chars].rstrip()


def is_blank(text: str | None) -> bool:
    """True when nothing matchable is left after normalisation (empty, whitespace, emoji only)."""
    return not any(ch.isalnum() for ch in normalize(text))
