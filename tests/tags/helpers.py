"""Helpers for the interest-tagging tests: tags with seed keywords, a trained model, console logins, the CLI."""

from __future__ import annotations

import re
from typing import Any

from sqlmodel import Session, select
from werkzeug.security import generate_password_hash

from hub.core.db import session_scope
from hub.core.models import Message, User
from hub.tags.models import FanProfile, FanTag, Tag

BEAUTY = ["口红", "粉底", "眼影", "面膜"]
TECH = ["手机", "耳机", "平板", "充电器"]


def define_tags(state: Any, tags: dict[str, list[str]], train: bool = True) -> None:
    from hub.tags.classifiers import model_for, train_tag_model
    from hub.tags.taxonomy import create_tag

    with session_scope(state.engine) as session:
        for name, keywords in tags.items():
            create_tag(session, name, "interest", f"fans who care about {name}", keywords)
    if train:
        assert train_tag_model("interest")["accepted"]
        assert model_for(state, "interest", wait=True) is not None


def train_intents(state: Any) -> None:
    from hub.tags.classifiers import model_for, train_tag_model

    assert train_tag_model("intent")["accepted"]
    assert model_for(state, "intent", wait=True) is not None


def fan_tags(state: Any, fan_id: int) -> dict[str, tuple[bool, str, list[int]]]:
    """tag name -> (active, source, evidence) of one fan."""
    with Session(state.engine) as session:
        rows = session.exec(select(FanTag, Tag.name).join(Tag, Tag.id == FanTag.tag_id)
                            .where(FanTag.fan_id == fan_id)).all()
    return {name: (row.active, row.source, list(row.evidence)) for row, name in rows}


def active_tags(state: Any, fan_id: int) -> set[str]:
    return {name for name, (active, _s, _e) in fan_tags(state, fan_id).items() if active}


def profile_row(state: Any, fan_id: int) -> FanProfile | None:
    with Session(state.engine) as session:
        return session.exec(select(FanProfile).where(FanProfile.fan_id == fan_id)).first()


def inbound(state: Any, openid_text: str | None = None) -> list[Message]:
    with Session(state.engine) as session:
        query = select(Message).where(Message.direction == "in").order_by(Message.id)
        if openid_text is not None:
            query = query.where(Message.text == openid_text)
        return list(session.exec(query).all())


SECRET = "pw-long-enough"  # every test user's


def add_user(state: Any, email: str, role: str) -> None:
    with session_scope(state.engine) as session:
        session.add(User(email=email, role=role, password_hash=generate_password_hash(SECRET)))


def login(app: Any, email: str) -> tuple[Any, dict[str, str]]:
    client = app.test_client()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"',
                      client.get("/login").get_data(as_text=True)).group(1)
    client.post("/login", data={"email": email, "password": SECRET, "csrf_token": token})
    return client, {"X-CSRFToken": token}


def cli_runner(hub_config: dict[str, Any]) -> Any:
    """`hub ...` in this process with the test's configuration (use inside a fixture that depends on `app`)."""
    from click.testing import CliRunner

    from hub.cli import cli

    env = {f"HUB_{k.upper()}": str(v) for k, v in hub_config.items()}
    return lambda *args: CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
