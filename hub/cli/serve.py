"""`hub serve`: the web app under gunicorn (its worker class: hub.cli.http_worker), with metrics shared across
its worker processes."""

from __future__ import annotations

import os
import shutil
from typing import Any

from gunicorn.app.base import BaseApplication

from hub.cli.http_worker import READ_TIMEOUT_SECONDS, hub_worker_class
from hub.core.config import load_config
from hub.core.redis_conn import embedded_redis_url


def prepare_environment() -> None:
    """Before forking: start the embedded Redis once and give every process its URL; set up metrics."""
    config = load_config()
    if not config.redis_url:
        os.environ["HUB_REDIS_URL"] = embedded_redis_url(config.instance_path)
    metrics_dir = config.instance_path.resolve() / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)


def _child_exit(_server: Any, worker: Any) -> None:
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


class HubApplication(BaseApplication):
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from hub.app import create_app

        return create_app()


def gunicorn_options(host: str, port: int, workers: int, threads: int,
                     read_timeout: float = READ_TIMEOUT_SECONDS, max_body_bytes: int = 64 * 1024) -> dict[str, Any]:
    """The server settings; the load benchmark runs its bare ceiling app with the same ones."""
    return {
        "bind": f"{host}:{port}",
        "workers": workers,
        "worker_class": hub_worker_class(read_timeout, max_body_bytes),
        "threads": threads,
        "timeout": 30,
        "accesslog": None,
    }


def serve(host: str, port: int, workers: int, threads: int, read_timeout: float = READ_TIMEOUT_SECONDS) -> None:
    prepare_environment()
    options = gunicorn_options(host, port, workers, threads, read_timeout, load_config().max_body_bytes)
    HubApplication({**options, "child_exit": _child_exit}).run()
