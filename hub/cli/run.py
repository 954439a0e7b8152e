"""`hub demo`, `hub serve`, `hub worker`, `hub sandbox wechat`, `hub simulate`: running the hub."""

from __future__ import annotations

import json
import os
import time
from typing import Any

import click


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn worker processes.")
@click.option("--threads", default=4, show_default=True, type=int, help="Threads per worker process.")
@click.option("--read-timeout", default=10.0, show_default=True, type=click.FloatRange(min=0.1),
              help="Seconds a client has to send a whole request (headers and body; 1 s more per 100 KiB of a "
                   "large upload) before it gets a 408; requests reach a thread only once they have arrived.")
def serve(host: str, port: int, workers: int, threads: int, read_timeout: float) -> None:
    """Run the web app (webhooks, consoles, API) under gunicorn."""
    from hub.cli.serve import serve as run

    run(host, port, workers, threads, read_timeout)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Work until the queue is empty, then exit.")
@click.option("--fork/--no-fork", default=None,
              help="Run each job in a forked work horse (default, HUB_WORKER_FORK) or in this process.")
def worker(burst: bool, fork: bool | None) -> None:
    """Run an RQ worker with the scheduler (retries with back-off need it) and the sweeper."""
    from hub.cli.worker import run_worker

    run_worker(burst=burst, fork=fork)


@click.group("sandbox")
def sandbox_group() -> None:
    """Local emulations of outside services."""


@sandbox_group.command("wechat")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8081, show_default=True, type=int)
def sandbox_wechat(host: str, port: int) -> None:
    """Emulate the WeChat Official Account HTTP API (token, custom send, users, tags) on loopback."""
    from hub.sandbox.wechat import serve as run

    click.echo(f"WeChat API emulation on http://{host}:{port}/ — point HUB_WECHAT_API_BASE there")
    run(host, port)


@sandbox_group.command("wecom")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8082, show_default=True, type=int)
def sandbox_wecom(host: str, port: int) -> None:
    """Emulate the WeCom HTTP API (gettoken, message/send) and play members writing to the hub, on loopback."""
    from hub.sandbox.wecom import serve as run

    click.echo(f"WeCom API emulation on http://{host}:{port}/ — give wecom accounts --api-base http://{host}:{port}")
    run(host, port)


@sandbox_group.command("community")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8083, show_default=True, type=int)
def sandbox_community(host: str, port: int) -> None:
    """Emulate a Discourse forum's API (POST /posts.json, topics) and play forum users posting, on loopback."""
    from hub.sandbox.community import serve as run

    click.echo(f"forum API emulation on http://{host}:{port}/ — give community accounts --api-base http://{host}:{port}")
    run(host, port)


@click.command("simulate")
@click.option("--url", default="http://127.0.0.1:8080", show_default=True, help="The hub's base URL (with --direct).")
@click.option("--sandbox", default="http://127.0.0.1:8081", show_default=True, help="The WeChat emulation.")
@click.option("--direct", is_flag=True, help="Post to the hub directly instead of through the WeChat emulation.")
@click.option("--account", "account_key", default="demo", show_default=True)
@click.option("--openid", default="o-demo-fan", show_default=True)
@click.option("--text", default=None, help="Send a text message.")
@click.option("--subscribe", is_flag=True, help="Send a subscribe event.")
@click.option("--scene", default=None, help="With --subscribe: the referral scene (qrscene_...).")
@click.option("--click", "click_key", default=None, help="Send a menu CLICK event with this key.")
def simulate(
    url: str, sandbox: str, direct: bool, account_key: str, openid: str, text: str | None, subscribe: bool,
    scene: str | None, click_key: str | None,
) -> None:
    """Send a signed (and, in safe mode, encrypted) fan message to a running hub and show its reply.

    By default the message goes through the WeChat emulation of `hub demo` / `hub sandbox wechat`, which
    records the fan's interaction (the 48-hour window) like WeChat does; --direct skips it.
    """
    from sqlmodel import Session, select

    from hub.app import create_state
    from hub.core.models import Account

    with Session(create_state().engine) as session:
        account = session.exec(select(Account).where(Account.key == account_key)).first()
    if account is None:
        raise click.ClickException(f"no account {account_key!r}; add one with `hub account add wechat ...`")
    if subscribe:
        body: dict = {"event": "subscribe", **({"key": f"qrscene_{scene}"} if scene else {})}
    elif click_key:
        body = {"event": "CLICK", "key": click_key}
    else:
        body = {"text": text or "你好"}
    if direct:
        result = _direct(url, account, openid, body)
    else:
        sent_before = len(_outbox(sandbox, account.app_id, openid))
        result = _via_sandbox(sandbox, account, openid, body)
        if result.get("status") == 200 and not result.get("reply_text"):
            # "success": an answer may follow through the customer-service API; the emulation sees it arrive.
            result["api_replies"] = _api_replies(sandbox, account.app_id, openid, sent_before)
    click.echo(json.dumps(result, ensure_ascii=False))


API_REPLY_WAIT_SECONDS = 8.0  # how long `hub simulate` waits for an answer sent through the API


def _outbox(sandbox: str, app_id: str, openid: str) -> list[dict]:
    import requests

    try:
        response = requests.get(f"{sandbox.rstrip('/')}/sandbox/outbox", params={"appid": app_id, "openid": openid},
                                timeout=5)
    except requests.RequestException:
        return []
    return response.json() if response.status_code == 200 else []


def _api_replies(sandbox: str, app_id: str, openid: str, sent_before: int) -> list[str]:
    """What the fan received through the customer-service API after their message, waiting briefly for the
    worker; a text per message ("[image]" and the like for other kinds)."""
    deadline = time.monotonic() + API_REPLY_WAIT_SECONDS
    while True:
        new = _outbox(sandbox, app_id, openid)[sent_before:]
        if new or time.monotonic() >= deadline:
            time.sleep(0.3)  # a hand-off sends one message, an answer may be followed by another
            new = _outbox(sandbox, app_id, openid)[sent_before:] or new
            return [(m.get("text") or {}).get("content") or f"[{m.get('msgtype', '?')}]" for m in new]
        time.sleep(0.2)


def _via_sandbox(sandbox: str, account: Any, openid: str, body: dict) -> dict:
    import requests

    try:
        response = requests.post(f"{sandbox.rstrip('/')}/sandbox/fans/{openid}/say",
                                 json={"appid": account.app_id, "attempts": 1, **body}, timeout=30)
    except requests.RequestException as exc:
        raise click.ClickException(f"no WeChat emulation at {sandbox} ({type(exc).__name__}); "
                                   "run `hub demo`, or pass --direct") from exc
    if response.status_code != 200:
        raise click.ClickException(f"the WeChat emulation answered {response.status_code}: {response.text[:200]}")
    result = response.json()
    return {k: result.get(k) for k in ("status", "reply_text", "error", "elapsed_ms")}


def _direct(url: str, account: Any, openid: str, body: dict) -> dict:
    from hub.sandbox.wechat import FanSimulator

    fan = FanSimulator(f"{url.rstrip('/')}/webhooks/wechat/{account.key}", account.token, account.app_id,
                       account.aes_key)
    if body.get("event") == "subscribe":
        key = body.get("key")
        result = fan.subscribe(openid, key.removeprefix("qrscene_") if key else None)
    elif body.get("event"):
        result = fan.click(openid, body["key"])
    else:
        result = fan.text(openid, body["text"])
    if not result.ok:
        raise click.ClickException(f"the hub answered HTTP {result.status}: {result.error}")
    return {k: v for k, v in result.as_dict().items() if k in ("status", "reply_text", "error", "elapsed_ms")}


@click.command("demo")
@click.option("--port", default=8080, show_default=True, type=int, help="The hub's web port.")
@click.option("--sandbox-port", default=8081, show_default=True, type=int, help="The WeChat emulation's port.")
@click.option("--instance", default="instance", show_default=True, help="Where the SQLite file and Redis live.")
def demo(port: int, sandbox_port: int, instance: str) -> None:
    """Everything on one machine: SQLite, embedded Redis, web, worker, WeChat emulation and demo data."""
    from hub.demo import run_demo

    os.environ.setdefault("HUB_INSTANCE_PATH", instance)
    run_demo(port, sandbox_port)
