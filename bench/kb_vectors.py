"""A disk cache of sentence vectors for the knowledge-base benchmarks (embedding lcqmc and oppo takes
minutes): every query and passage vector by text hash, under $HUB_BENCH_VECTORS (default /tmp)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from knowledge.encoder import Encoder, load_encoder, text_key

ROOT = Path(os.environ.get("HUB_BENCH_VECTORS", "/tmp/hub-kb-vectors"))


class DiskCachedEncoder:
    """Wraps an encoder: vectors already on disk are not computed again. `save()` writes new ones."""

    def __init__(self, encoder: Encoder, root: Path = ROOT) -> None:
        self.encoder = encoder
        self.name = encoder.name
        self.path = root / f"{encoder.name}.npz"
        self.cache: dict[str, np.ndarray] = {}
        self._dirty = 0
        if self.path.exists():
            with np.load(self.path, allow_pickle=False) as z:
                self.cache = dict(zip(z["keys"].tolist(), z["vectors"], strict=True))

    def _get(self, texts: list[str], kind: str) -> np.ndarray:
        keys = [text_key(self.name, kind, t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self.cache))
        for start in range(0, len(missing), 64):
            chunk = missing[start : start + 64]
            run = self.encoder.query if kind == "q" else self.encoder.passage
            for t, v in zip(chunk, run(chunk), strict=True):
                self.cache[text_key(self.name, kind, t)] = v
            self._dirty += len(chunk)
            if self._dirty >= 2000:
                self.save()
        if not keys:
            return np.zeros((0, 0), np.float32)
        return np.vstack([self.cache[k] for k in keys]).astype(np.float32)

    def query(self, texts: list[str]) -> np.ndarray:
        return self._get(texts, "q")

    def passage(self, texts: list[str]) -> np.ndarray:
        return self._get(texts, "p")

    def save(self) -> None:
        if not self._dirty:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if self.path.exists():  # another run may have saved meanwhile: keep its vectors too
            with np.load(self.path, allow_pickle=False) as z:
                for k, v in zip(z["keys"].tolist(), z["vectors"], strict=True):
                    self.cache.setdefault(k, v)
        keys = list(self.cache)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=np.vstack([self.cache[k] for k in keys]))
        tmp.replace(self.path)
        self._dirty = 0


def bench_encoder(spec: str = "") -> DiskCachedEncoder:
    enc = load_encoder(spec)
    if enc is None:
        raise SystemExit("the sentence encoder cannot be loaded")
    return DiskCachedEncoder(enc)
