"""One helper of knowledge.embed_pool (`python -m knowledge.embed_worker`): reads {"spec", "kind", "texts"} as
JSON from stdin, loads that encoder on one thread, and writes the vectors to stdout as (length, .npy) blocks of
CHUNK texts, so the caller's progress bar moves as they come."""

from __future__ import annotations

import io
import json
import os
import sys

import numpy as np

CHUNK = 32


def main() -> int:
    os.environ["OMP_NUM_THREADS"] = "1"  # before the encoder's OpenMP runtime is loaded
    request = json.loads(sys.stdin.buffer.read())
    from knowledge.encoder import encoder_error, load_encoder

    encoder = load_encoder(request["spec"])
    if encoder is None:
        print(f"the encoder cannot be loaded: {encoder_error(request['spec'])}", file=sys.stderr)
        return 2
    run = encoder.query if request["kind"] == "query" else encoder.passage
    texts = request["texts"]
    out = sys.stdout.buffer
    for start in range(0, len(texts), CHUNK):
        buf = io.BytesIO()
        np.save(buf, np.asarray(run(texts[start : start + CHUNK]), dtype=np.float32), allow_pickle=False)
        out.write(len(buf.getvalue()).to_bytes(8, "little") + buf.getvalue())
        out.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
