"""The README's walk-through of a hand-off in `hub demo`: the fan asks for a person in the WeChat emulation, the
worker assigns the ticket to an online agent of 售后 (`hub tickets list --json` shows the e-mail), and the agent's
reply through the API with their token reaches the fan in the emulation."""

from __future__ import annotations

import json
from typing import Any

import requests
from click.testing import CliRunner

from hub.cli import cli
from hub.demo.data import seed_agents
from tests.support.demo_setup import wire_demo

REPLY = "您好，我是客服小王，您的问题由我来处理。"


def test_a_hand_off_goes_to_an_online_agent_whose_reply_reaches_the_fan(
        state: Any, live_hub: Any, sandbox: Any, worker: Any, hub_config: dict[str, Any]) -> None:
    env = {f"HUB_{k.upper()}": str(v) for k, v in hub_config.items()}

    def hub(*args: str) -> str:
        result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    demo = wire_demo(state, live_hub.url, sandbox)
    seed_agents(state)
    demo.say("fan3", text="转人工")
    worker()
    [ticket] = json.loads(hub("tickets", "list", "--status", "assigned", "--json"))
    assert ticket["assignee"] in ("agent1@demo.local", "agent2@demo.local") and ticket["team"] == "售后"
    assert ticket["intent"] == "human"

    token = hub("tokens", "create", ticket["assignee"]).strip()
    answer = requests.post(f"{live_hub.url}/api/v1/tickets/{ticket['id']}/replies", json={"text": REPLY},
                           headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert answer.status_code in (200, 201, 202), answer.text
    worker()
    assert REPLY in [(m.get("text") or {}).get("content") for m in demo.outbox("fan3")]
    assert "resolved" in hub("tickets", "resolve", str(ticket["id"]))
