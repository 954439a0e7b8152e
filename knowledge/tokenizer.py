"""Tokens for matching: jieba words (with a brand/product user dictionary and synonyms) and character n-grams.

jieba's dictionary takes about a second to load; `preload()` does it once per process (the worker calls it
at start-up) and every `Tokenizer` shares that one dictionary. User terms are kept per `Tokenizer` instead of
being added to jieba's global dictionary, so two brands' knowledge bases never change each other's words.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable, Mapping

import jieba

from knowledge.text import normalize

_lock = threading.Lock()
_loaded = False

# Characters worth matching on: CJK ideographs, Latin letters and digits. Punctuation carries no meaning here.
_KEEP = re.compile(r"[0-9a-z\u3400-\u4dbf\u4e00-\u9fff]+")


def preload() -> None:
    """Load jieba's dictionary now (idempotent, thread-safe) instead of on the first message."""
    global _loaded
    if _loaded:
        return
    with _lock:
        if not _loaded:
            jieba.setLogLevel(logging.WARNING)
            jieba.initialize()
            _loaded = True


def _alternation(terms: Iterable[str]) -> re.Pattern[str] | None:
    """A regex that matches any of `terms`, longest first (so '华为手机' wins over '华为')."""
    ordered = sorted({t for t in terms if t}, key=len, reverse=True)
    if not ordered:
        return None
    return re.compile("|".join(re.escape(t) for t in ordered))


class Tokenizer:
    """Normalises text and turns it into word tokens and character n-grams.

    user_terms: brand and product names that must stay one token ("findx7", "小布助手").
    synonyms:   variant → canonical form ("手机壳": "保护壳"); applied to the text before tokenizing,
                so both the word and the character features see the canonical form.
    """

    def __init__(self, user_terms: Iterable[str] = (), synonyms: Mapping[str, str] | None = None) -> None:
        self.synonyms = {normalize(k): normalize(v) for k, v in (synonyms or {}).items() if normalize(k)}
        self.user_terms = sorted({normalize(t) for t in user_terms if normalize(t)})
        # Canonical forms of synonyms are terms too: they must survive segmentation as one word.
        self._terms_re = _alternation([*self.user_terms, *self.synonyms.values()])
        self._synonym_re = _alternation(self.synonyms)

    def normalize(self, text: str | None) -> str:
        """`knowledge.text.normalize` followed by synonym canonicalisation."""
        clean = normalize(text)
        if self._synonym_re is not None and clean:
            clean = self._synonym_re.sub(lambda m: self.synonyms[m.group(0)], clean)
        return clean

    def words(self, clean: str) -> list[str]:
        """jieba words of already normalised text; user terms stay whole; punctuation dropped."""
        if not clean:
            return []
        preload()
        out: list[str] = []
        pos = 0
        if self._terms_re is not None:
            for m in self._terms_re.finditer(clean):
                out.extend(self._cut(clean[pos : m.start()]))
                out.append(m.group(0))
                pos = m.end()
        out.extend(self._cut(clean[pos:]))
        return out

    @staticmethod
    def _cut(chunk: str) -> list[str]:
        if not chunk:
            return []
        return [w for w in jieba.lcut(chunk) if _KEEP.fullmatch(w)] if _KEEP.search(chunk) else []

    @staticmethod
    def chars(clean: str) -> str:
        """The matchable characters of normalised text, punctuation and spaces removed."""
        return "".join(_KEEP.findall(clean))

    @staticmethod
    def char_ngrams(clean: str, n_min: int = 1, n_max: int = 3) -> list[str]:
        """Overlapping character n-grams of the matchable characters (`n_min`..`n_max`)."""
        s = Tokenizer.chars(clean)
        return [s[i : i + n] for n in range(n_min, n_max + 1) for i in range(len(s) - n + 1)]
