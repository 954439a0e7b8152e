"""The `hub` command as the design contract states it."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
from click.testing import CliRunner

from hub.cli import cli


@pytest.fixture
def run(hub_config: dict[str, Any], app: Any) -> Any:
    env = {f"HUB_{k.upper()}": str(v) for k, v in hub_config.items()}
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    return invoke


def test_accounts_rules_users_stats_and_tickets(run: Any) -> None:
    added = run("account", "add", "wechat", "--key", "brand", "--token", "tok", "--app-id", "wx1",
                "--app-secret", "sec", "--aes-key", "a" * 43)
    assert added.exit_code == 0 and "/webhooks/wechat/brand" in added.output
    assert run("account", "add", "wechat", "--key", "brand", "--token", "t", "--app-id", "w",
               "--app-secret", "s").exit_code != 0
    assert "safe mode" in run("account", "list").output
    assert run("rules", "add", "--account", "brand", "--kind", "keyword", "--match", "regex",
               "--pattern", "([", "--reply", "x").exit_code != 0
    assert run("rules", "add", "--account", "brand", "--kind", "keyword", "--pattern", "价格",
               "--reply", "2999 元").exit_code == 0
    rules = json.loads(run("rules", "list", "--json").output)
    assert rules[0]["pattern"] == "价格" and rules[0]["reply"] == "2999 元"
    assert run("user", "add", "a@x.test", "--role", "agent", "--password", "short").exit_code != 0
    assert run("user", "add", "a@x.test", "--role", "agent", "--password", "long-enough").exit_code == 0
    stats = json.loads(run("stats", "--json").output)
    assert {"fans", "messages_in", "messages_out", "tickets", "tickets_assigned", "jobs_failed",
            "jobs_queued"} <= stats.keys()
    assert json.loads(run("tickets", "list", "--json").output) == []


def test_failures_exit_non_zero_with_one_line(tmp_path: Any) -> None:
    env = {"HUB_INSTANCE_PATH": str(tmp_path), "HUB_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none",
           "PATH": "/usr/bin:/bin"}
    result = subprocess.run([sys.executable, "-m", "hub", "stats", "--json"], capture_output=True, text=True,
                            env=env, timeout=60)
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1 and result.stderr.startswith("error:")


def test_the_commands_offer_exactly_the_values_the_tables_accept() -> None:
    from hub.cli import admin, tags
    from hub.conversation import RULE_KINDS
    from hub.core.models import ROLES
    from hub.tags import TAG_KINDS

    assert (admin.ROLES, admin.RULE_KINDS, tags.TAG_KINDS) == (ROLES, RULE_KINDS, TAG_KINDS)


def test_hub_help_loads_no_database_layer_or_model() -> None:
    import subprocess
    import sys

    heavy = ("sqlmodel", "sqlalchemy", "numpy", "sklearn", "jieba", "redis")
    code = f"import sys, hub.cli; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "[]"
