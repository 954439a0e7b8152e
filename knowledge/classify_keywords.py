"""Cold start: scores from operators' seed keywords, for labels that have no examples yet.

These are rules, not a fitted model: a label gets a fixed probability that rises with the number
of its distinct keywords found in the text. Good enough to start tagging on day one; replaced label
by label as soon as labelled examples exist.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from knowledge.classify_text import normalise

MISS_P = 0.02  # probability when no keyword of the label occurs
FIRST_HIT_P = 0.6  # one keyword; each further distinct keyword halves the remaining doubt


def clean_keywords(seed_keywords: Mapping[str, Sequence[str]]) -> dict[str, list[str]]:
    """Normalise keywords, drop blanks and duplicates; labels without keywords are dropped."""
    out: dict[str, list[str]] = {}
    for label, kws in seed_keywords.items():
        seen = sorted({normalise(k) for k in kws if k and normalise(k)})
        if seen:
            out[label] = seen
    return out


class KeywordRules:
    def __init__(self, keywords: Mapping[str, Sequence[str]]) -> None:
        self.keywords = clean_keywords(keywords)
        self.labels = tuple(sorted(self.keywords))

    def proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, n_labels) probabilities in the order of self.labels."""
        P = np.full((len(texts), len(self.labels)), MISS_P)
        for i, text in enumerate(texts):
            t = normalise(text)
            for j, label in enumerate(self.labels):
                hits = sum(1 for k in self.keywords[label] if k in t)
                if hits:
                    P[i, j] = 1.0 - (1.0 - FIRST_HIT_P) * 0.5 ** (hits - 1)
        return P

    def matches(self, text: str, label: str) -> list[str]:
        t = normalise(text)
        return [k for k in self.keywords.get(label, []) if k in t]
