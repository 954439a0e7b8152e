"""Vectorised text → hashed features: jieba-dictionary segmentation and character n-grams in numpy.

jieba's own cut runs a Python loop per character (about 70 µs per headline). Here a whole batch is
one array of code points: every k-gram gets a 64-bit hash at once, dictionary words are found by
binary search, and jieba's maximum-probability route (no HMM) is computed for all texts together,
one character position per step. The words it produces are the same as jieba's for Chinese text;
runs of latin letters and digits stay single characters (the character n-grams cover them).

    ids, feats, n_char = hashed_features(["今天天气不错"], char_max_n=3)
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence

import numpy as np

BOS = "\x02"
EOS = "\x03"
SEP = "\x00"  # between texts: no window crosses it
MAX_WORD = 6  # longer dictionary words are rare in messages; their pieces still match
_P = np.uint64(0x100000001B3)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
# Feature blocks: the same string hashes differently as a word, a word bigram or a char n-gram.
WORD, BIGRAM, CHAR = np.uint64(0x1F3D5B79), np.uint64(0x2E4C6A88), np.uint64(0x3A5B7C9D)

_lock = threading.Lock()
_dict: tuple[np.ndarray, np.ndarray, float] | None = None


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (wrapping uint64 arithmetic)."""
    h = h ^ (h >> np.uint64(30))
    h = h * _M1
    h = h ^ (h >> np.uint64(27))
    h = h * _M2
    return h ^ (h >> np.uint64(31))


def _codes(strings: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Code points of the strings joined by SEP; start and end offsets of each."""
    joined = SEP.join(strings) + SEP
    codes = np.frombuffer(joined.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    lens = np.fromiter((len(s) for s in strings), dtype=np.int64, count=len(strings))
    starts = np.zeros(len(strings), dtype=np.int64)
    np.cumsum(lens[:-1] + 1, out=starts[1:])
    return codes, starts, starts + lens


def _kgram_hashes(codes: np.ndarray, max_n: int) -> np.ndarray:
    """(max_n, N) hashes: row k-1 holds the hash of codes[p : p+k] (garbage where p+k > N).

    N may be shorter than max_n (a one-character message is 4 codes: BOS, it, EOS, SEP): rows of
    k-grams longer than the whole array stay zero, which every caller masks out by `room >= k`.
    """
    n = len(codes)
    H = np.zeros((max_n, n), dtype=np.uint64)
    H[0] = _mix(codes + np.uint64(1))
    for k in range(2, min(max_n, n) + 1):
        H[k - 1, : n - k + 1] = _mix(H[k - 2, : n - k + 1] * _P + codes[k - 1 :])
    return H


def _load_dictionary() -> tuple[np.ndarray, np.ndarray, float]:
    """Sorted hashes of jieba's dictionary words (length ≤ MAX_WORD, frequency > 0) and log-freqs."""
    global _dict
    if _dict is not None:
        return _dict
    with _lock:
        if _dict is None:
            import jieba

            from knowledge.classify_text import preload

            preload()
            freq = jieba.dt.FREQ
            words = [w for w, f in freq.items() if f and len(w) <= MAX_WORD]
            codes, starts, ends = _codes(words)
            H = _kgram_hashes(codes, MAX_WORD)
            hashes = H[ends - starts - 1, starts]
            logf = np.log(np.array([freq[w] for w in words], dtype=np.float64))
            order = np.argsort(hashes)
            _dict = (hashes[order], logf[order], math.log(jieba.dt.total))
    return _dict


def _lookup(sorted_keys: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index into sorted_keys of each key, and whether it is there."""
    if not len(sorted_keys):
        return np.zeros(len(keys), dtype=np.int64), np.zeros(len(keys), dtype=bool)
    pos = np.searchsorted(sorted_keys, keys)
    pos[pos == len(sorted_keys)] = 0
    return pos, sorted_keys[pos] == keys


def hashed_features(
    texts: Sequence[str], char_max_n: int = 3
) -> tuple[np.ndarray, np.ndarray, int]:
    """Features of already-normalised texts: text index and block-tagged 64-bit hash per feature;
    the first n_char of them are character n-grams, the rest word features.

    Words (search mode: long words also give their dictionary 2- and 3-char pieces) and word
    bigrams over BOS + words + EOS; character 1..char_max_n-grams of BOS + text + EOS, with the
    bare marks not counted as unigrams. Spaces are dropped.
    """
    strings = [BOS + t.replace(" ", "") + EOS for t in texts]
    codes, starts, ends = _codes(strings)
    n = len(codes)
    K = max(MAX_WORD, char_max_n)
    H = _kgram_hashes(codes, K)
    pos = np.arange(n, dtype=np.int64)
    text_of = np.repeat(np.arange(len(texts), dtype=np.int64), ends - starts + 1)  # includes SEP slot
    room = ends[text_of] - pos  # characters from p to the end of its text (0 on SEP)
    ids: list[np.ndarray] = []
    feats: list[np.ndarray] = []
    # -- character n-grams
    inner = (room >= 2) & (pos != starts[text_of])
    ids.append(text_of[inner])
    feats.append(H[0, inner] ^ CHAR)
    for k in range(2, char_max_n + 1):
        ok = room >= k
        ids.append(text_of[ok])
        feats.append(H[k - 1, ok] ^ CHAR)
    n_char = sum(len(f) for f in feats)
    # -- dictionary lookups: L[k-1, p] = log-prob of codes[p:p+k] as a word, -inf if not one
    keys, logf, logtotal = _load_dictionary()
    L = np.full((MAX_WORD, n), -np.inf)
    for k in range(1, MAX_WORD + 1):
        ok = room >= k
        i, found = _lookup(keys, H[k - 1, ok])
        vals = np.where(found, logf[i] - logtotal, -np.inf)
        if k == 1:  # jieba: an unknown single character counts with frequency 1
            vals = np.where(found, vals, -logtotal)
        L[k - 1, ok] = vals
    starts_w, ks = _route(L, starts, ends)
    w = H[ks - 1, starts_w]
    tid = text_of[starts_w]
    ids.append(tid)
    feats.append(w ^ WORD)
    same = tid[1:] == tid[:-1]
    ids.append(tid[1:][same])
    feats.append(_mix(w[:-1][same] * _P + w[1:][same]) ^ BIGRAM)
    for piece in (2, 3):  # search mode: a long word also yields its dictionary pieces
        for j in range(0, MAX_WORD - piece + 1):
            has = (ks > piece) & (j <= ks - piece)
            q = starts_w[has] + j
            ok = np.isfinite(L[piece - 1, q])
            ids.append(tid[has][ok])
            feats.append(H[piece - 1, q[ok]] ^ WORD)
    return np.concatenate(ids), np.concatenate(feats), n_char


def _route(L: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """jieba's route: S[p] = max_k L[k, p] + S[p + k], ties to the longer word. Returns each
    word's start and length, in text order. Vectorised across texts (one step per character
    position) for batches; a plain loop when that is cheaper (one text, or one very long text)."""
    lens = ends - starts
    if not len(lens):
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    longest = int(lens.max())
    if longest * 40 > int(lens.sum()):
        return _route_loop(L, starts, ends)
    n = L.shape[1]
    S = np.zeros(n + MAX_WORD)
    best = np.ones(n, dtype=np.int64)
    for d in range(longest):
        p = ends[lens > d] - 1 - d
        top = L[0, p] + S[p + 1]
        bk = np.ones(len(p), dtype=np.int64)
        for k in range(2, MAX_WORD + 1):
            cand = L[k - 1, p] + S[p + k]
            better = cand >= top
            top = np.where(better, cand, top)
            bk[better] = k
        S[p] = top
        best[p] = bk
    out = []
    cur, end = starts.copy(), ends.copy()
    while len(cur):
        out.append(cur)
        cur = cur + best[cur]
        live = cur < end
        cur, end = cur[live], end[live]
    pos = np.sort(np.concatenate(out))
    return pos, best[pos]


def _route_loop(L: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    rows = [r.tolist() for r in L]
    ks = range(MAX_WORD)
    pos: list[int] = []
    lens: list[int] = []
    for a, e in zip(starts.tolist(), ends.tolist(), strict=True):
        S = [0.0] * (e - a + MAX_WORD + 1)
        best = [1] * (e - a)
        for p in range(e - 1, a - 1, -1):
            i = p - a
            top, bk = rows[0][p] + S[i + 1], 1
            for k in ks[1:]:
                c = rows[k][p] + S[i + k + 1]
                if c >= top:
                    top, bk = c, k + 1
            S[i] = top
            best[i] = bk
        i = 0
        while i < e - a:
            pos.append(a + i)
            lens.append(best[i])
            i += best[i]
    return np.array(pos, dtype=np.int64), np.array(lens, dtype=np.int64)
