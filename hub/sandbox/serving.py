"""Running an emulation's server until interrupted (what `hub sandbox <channel> --port N` does)."""

from __future__ import annotations

import logging

from werkzeug.serving import BaseWSGIServer


def serve_until_interrupted(server: BaseWSGIServer, what: str, log: logging.Logger) -> None:
    log.info("%s listening on http://%s:%s/", what, server.host, server.server_port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
