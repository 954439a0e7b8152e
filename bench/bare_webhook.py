"""The ceiling for bench/webhook_load.py: a bare Flask webhook that only checks the WeChat signature.

It does what the hub's plaintext-mode webhook must do at the very least — read the body, check the
signature (sha1 of sorted token, timestamp, nonce; constant-time compare) and the replay window — and
answers "success", under the same gunicorn settings as `hub serve` (hub/serve.py: gthread workers with
4 threads, timeout 30, no access log).

    .venv/bin/python bench/bare_webhook.py --port 8090 --token T [--workers 2]
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import time
from typing import Any

from flask import Flask, Response, request
from gunicorn.app.base import BaseApplication

from hub.cli.serve import gunicorn_options

MAX_BODY_BYTES = 64 * 1024
REPLAY_WINDOW_SECONDS = 300


def create_app(token: str) -> Flask:
    app = Flask("bare_webhook")

    @app.post("/webhooks/wechat/<key>")
    def receive(key: str) -> Response:
        args = request.args
        timestamp, nonce = args.get("timestamp", ""), args.get("nonce", "")
        expected = hashlib.sha1("".join(sorted((token, timestamp, nonce))).encode()).hexdigest()  # noqa: S324
        given = args.get("signature", "")
        if not hmac.compare_digest(expected.encode(), given.lower().encode("utf-8", "replace")):
            return Response("missing or forged signature", status=403, mimetype="text/plain")
        if not timestamp.isdigit() or abs(time.time() - int(timestamp)) > REPLAY_WINDOW_SECONDS:
            return Response("timestamp outside the replay window", status=403, mimetype="text/plain")
        body = request.stream.read(MAX_BODY_BYTES + 1)
        if len(body) > MAX_BODY_BYTES:
            return Response("body too large", status=413, mimetype="text/plain")
        return Response("success", mimetype="text/plain")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", mimetype="text/plain")

    return app


class BareApplication(BaseApplication):
    def __init__(self, app: Flask, options: dict[str, Any]) -> None:
        self.app = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        return self.app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--token", required=True)
    args = parser.parse_args()
    options = gunicorn_options(args.host, args.port, args.workers, args.threads)  # the same as `hub serve`
    BareApplication(create_app(args.token), options).run()


if __name__ == "__main__":
    main()
