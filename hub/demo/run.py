"""`hub demo`: the whole hub on one machine, on embedded defaults, with a WeChat emulation to watch."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import click
import requests

from hub.core.config import load_config
from hub.core.redis_conn import embedded_redis_url, keep_embedded_redis, stop_embedded_redis
from hub.demo.data import DEMO_AGENTS, DEMO_PASSWORD, DEMO_STEPS, DEMO_USERS, seed_agents, seed_demo


def _start_sandbox(port: int):  # type: ignore[no-untyped-def]
    from hub.sandbox.wechat import SandboxState, make_sandbox_server

    sandbox_state = SandboxState()
    server = make_sandbox_server("127.0.0.1", port, sandbox_state)  # its request log hides tokens and secrets
    threading.Thread(target=server.serve_forever, name="wechat-sandbox", daemon=True).start()
    return sandbox_state, server


def _wait_ready(url: str, seconds: float = 30) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.3)
    return False


def _steps() -> str:
    width = max(len(command) for command, _ in DEMO_STEPS)
    return "\n".join(f"  {command:<{width}}  # {why}" if why else f"  {command}" for command, why in DEMO_STEPS)


def _watch(commands: list[list[str]], children: list[subprocess.Popen]) -> None:
    """Until Ctrl-C or SIGTERM: start a child again within a second if it exits (killed, out of memory).

    Both signals are handled here, not left to Python's KeyboardInterrupt: a process started in the background
    inherits an ignored SIGINT, and the children, which get the terminal's Ctrl-C too, must not be restarted."""
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    while not stopping.wait(1.0):
        for i, child in enumerate(children):
            if child.poll() is not None:
                click.echo(f"`{' '.join(commands[i][2:])}` exited ({child.returncode}); starting it again", err=True)
                children[i] = subprocess.Popen(commands[i])


def run_demo(port: int, sandbox_port: int) -> None:
    config = load_config()
    stop = threading.Event()
    if not config.redis_url:
        # One embedded Redis for every process of the demo: started here, shared through its socket, and
        # started again here within a second if it dies (its socket path stays the same).
        os.environ["HUB_REDIS_URL"] = embedded_redis_url(config.instance_path)
        keep_embedded_redis(config.instance_path, stop)
    from hub.app import create_state
    from hub.core.migrate import upgrade

    state = create_state()
    upgrade(state.engine)
    account = seed_demo(state, f"http://127.0.0.1:{sandbox_port}")
    seed_agents(state)
    from hub.kb import rebuild_kb_index

    rebuild_kb_index()
    sandbox_state, sandbox_server = _start_sandbox(sandbox_port)
    sandbox_state.register_app(
        account.app_id, account.app_secret, webhook_url=f"http://127.0.0.1:{port}/webhooks/wechat/{account.key}",
        token=account.token, aes_key=account.aes_key,
    )
    from hub.demo.wecom import WECOM_AGENT_ID, WECOM_CORP_ID, start_wecom_demo

    wecom_server, wecom_url = start_wecom_demo(state, port, sandbox_port + 1)
    wecom_say = (f"curl -s {wecom_url}/sandbox/members/zhangsan/say -H 'Content-Type: application/json' "
                 f"""-d '{{"corpid": "{WECOM_CORP_ID}", "agentid": {WECOM_AGENT_ID}, "text": "价格"}}'""")
    from hub.demo.community import say_command, start_community_demo

    forum_server, forum_url = start_community_demo(state, port, sandbox_port + 2)
    forum_say = say_command(forum_url)
    hub_cmd = [sys.executable, "-m", "hub"]
    commands = [[*hub_cmd, "worker"], [*hub_cmd, "serve", "--port", str(port)]]
    children = [subprocess.Popen(command) for command in commands]
    try:
        if not _wait_ready(f"http://127.0.0.1:{port}/healthz"):
            raise click.ClickException(f"the web process did not come up on port {port}; is the port free?")
        users = ", ".join(email for email, _ in DEMO_USERS)
        agents = ", ".join(f"{email} ({'、'.join(teams)})" for email, teams, _ in DEMO_AGENTS)
        click.echo(
            f"""
The hub is running (SQLite and Redis under {config.instance_path}/).
  Webhook:           http://127.0.0.1:{port}/webhooks/wechat/{account.key}  (safe mode)
  WeChat emulation:  http://127.0.0.1:{sandbox_port}/   — fans, their messages and the hub's replies
  WeCom emulation:   {wecom_url}/   — a member of the demo WeCom app writes to the hub:
                     {wecom_say}
  Forum emulation:   {forum_url}/   — a forum user posts, the hub answers on the topic:
                     {forum_say}
  Console login:     http://127.0.0.1:{port}/login  ({users}; password {DEMO_PASSWORD})
  Service agents:    {agents} — online, same password
Try, in another terminal:
{_steps()}
  (an agent's reply to the fan, through the API with `hub tokens create EMAIL`: see the README)
Press Ctrl-C to stop."""
        )
        _watch(commands, children)
    except KeyboardInterrupt:
        pass
    finally:
        for child in children:
            child.terminate()
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        stop.set()
        sandbox_server.shutdown()
        wecom_server.shutdown()
        forum_server.shutdown()
        if not config.redis_url:  # the demo started it: it goes with the demo
            stop_embedded_redis(config.instance_path)
