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
BOS = "\x02"
EOS = "\x03"


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


def word_features(text: str) -> list[str]:
    """Word unigrams and bigrams, with start/end marks, of normalised text."""
    ws = [BOS, *words(text), EOS]
    return ws + [a + " " + b for a, b in zip(ws, ws[1:], strict=False)]


def char_features(text: str, max_n: int = 3) -> list[str]:
    """Character 1..max_n-grams of normalised text, with start/end marks."""
    s = BOS + text.replace(" ", "") + EOS
    n = len(s)
    out = [s[i] for i in range(1, n - 1)]  # unigrams without the bare marks
    for k in range(2, max_n + 1):
        out.extend(s[i : i + k] for i in range(n - k + 1))
    return out


def is_empty(text: str | None) -> bool:
    """True when a message carries nothing to classify (None, blank, or only punctuation/emoji)."""
    if not text:
        return True
    return not any(unicodedata.category(ch)[0] in "LN" for ch in text)
