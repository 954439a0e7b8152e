"""Text → feature strings for the classifiers: jieba words and character n-grams.

Kept separate from knowledge/tokenizer.py on purpose: the classifier's features are part of a
trained model's meaning, so they must not change when the retriever's tokenizer changes.
"""

from __future__ import annotations

import logging
import threading
import unicodedata

import jieba

_lock = threading.Lock()
_ready = False

# Marks the start and end of a message: "怎么退货" differs from "退货怎么办" mostly in where words sit.


def preload() -> None:
    """Load jieba's dictionary once per process (about a second); later calls are free."""
    global _ready
    if _ready:
        return
    with _lock:
        if _ready:
            return
        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        _ready = True


def normalise(text: str) -> str:
    """Full-width → half-width, lower case, whitespace collapsed to single spaces."""
    text = unicodedata.normalize("NFKC", text).lower()
    return " ".join(text.split())


def words(text: str) -> list[str]:
    """jieba search-mode words (long words plus their dictionary sub-words), no spaces."""
    if not _ready:
        preload()
    # HMM off: new-word guessing is slow and noisy on short messages; char n-grams cover unknown words.
    return [w for w in jieba.cut_for_search(text, HMM=False) if not w.isspace()]


def is_empty(text: str | None) -> bool:
    """True when a message carries nothing to classify (None, blank, or only punctuation/emoji)."""
    if not text:
        return True
    return not any(unicodedata.category(ch)[0] in "LN" for ch in text)
