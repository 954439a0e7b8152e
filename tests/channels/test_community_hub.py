"""The community channel in the hub (SQLite and PostgreSQL, real Redis): deliveries to /webhooks/community/<key>
are stored once under retries, edits only when the text changed, the hub's own posts and bad input never;
posts outside the served categories feed the profile but get no answer; `hub account add community`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, col, func, select

from hub.cli import cli
from hub.core.db import session_scope
from hub.core.models import Account, Fan, Identity, Message
from hub.intake.journal import flush_all
from hub.tickets.models import Ticket
from tests.channels.test_community_webhook import SECRET, delivery, post_payload


@pytest.fixture
def forum_account(state: Any) -> int:
    with session_scope(state.engine) as session:
        account = Account(key="forum", channel="community", token=SECRET, app_secret="k", api_base="http://127.0.0.1:9",
                          settings={"api_username": "hub_bot", "categories": [5]})
        session.add(account)
        session.flush()
        return account.id


def post(client: Any, event: str, payload: Any, key: str = "forum", **kw: Any) -> Any:
    headers, body = delivery(event, payload, **kw)
    return client.post(f"/webhooks/community/{key}", data=body, headers=headers)


def inbound(state: Any) -> list[Message]:
    flush_all(state)
    with Session(state.engine) as session:
        return list(session.exec(select(Message).where(Message.direction == "in").order_by(Message.id)).all())


def count(state: Any, model: Any) -> int:
    with Session(state.engine) as session:
        return session.exec(select(func.count()).select_from(model)).one()


def test_retries_with_new_event_ids_store_one_message(app: Any, state: Any, forum_account: int) -> None:
    client = app.test_client()
    payload = post_payload(raw="怎么退货", category_id=5)
    for event_id in (11, 12, 13):
        response = post(client, "post_created", payload, event_id=event_id)
        assert response.status_code == 200 and response.get_json() == {"ok": True}
    post(client, "post_edited", post_payload(raw="怎么退货", category_id=5, version=2), event_id=14)  # same text
    [message] = inbound(state)
    assert (message.text, message.kind, message.account_id) == ("怎么退货", "text", forum_account)
    assert message.meta["topic_id"] == 46582 and message.meta["post_number"] == 3
    with Session(state.engine) as session:
        identity = session.get(Identity, message.identity_id)
        fan = session.get(Fan, message.fan_id)
    assert identity.external_id == "2401" and fan.display_name == "Darknao"  # the forum's name for the fan
    post(client, "post_edited", post_payload(raw="怎么退货？东西坏了", category_id=5, version=3), event_id=15)
    post(client, "post_edited", post_payload(raw="怎么退货？东西坏了", category_id=5, version=3), event_id=16)
    assert [m.text for m in inbound(state)] == ["怎么退货", "怎么退货？东西坏了"]
    assert count(state, Fan) == 1


def test_own_posts_are_never_stored_and_other_categories_are_never_answered(
        app: Any, state: Any, forum_account: int, worker: Any) -> None:
    client = app.test_client()
    assert post(client, "post_created", post_payload(username="hub_bot", user_id=9, category_id=5)).status_code == 200
    assert post(client, "post_created", post_payload(post_id=2, raw="我要转人工", category_id=8)).status_code == 200
    [message] = inbound(state)
    assert message.reply_state == "none" and message.meta["observe_only"] is True
    worker()
    with Session(state.engine) as session:
        assert session.get(Message, message.id).status == "processed"  # tagged, not answered
        assert session.exec(select(Message).where(Message.direction == "out")).all() == []
    assert count(state, Ticket) == 0
    assert count(state, Identity) == 1  # the hub's own API user never became a fan


def test_text_the_database_would_refuse_is_cleaned(app: Any, state: Any, forum_account: int) -> None:
    payload = post_payload(raw="退\u0000货\ud800吗", category_id=5, topic_title="标题\u0000")
    response = post(app.test_client(), "post_created", payload)
    assert response.status_code == 200
    assert [m.text for m in inbound(state)] == ["退货?吗"]


@pytest.mark.parametrize("case", ["forged", "no signature", "no event", "malformed", "oversized", "unknown key",
                                  "stale"])
def test_bad_deliveries_store_nothing(app: Any, state: Any, forum_account: int, caplog: Any, case: str) -> None:
    client = app.test_client()
    headers, body = delivery("post_created", post_payload(category_id=5))
    key = "forum"
    if case == "forged":
        headers, body = delivery("post_created", post_payload(category_id=5), secret="guess")
    elif case == "no signature":
        del headers["X-Discourse-Event-Signature"]
    elif case == "no event":
        del headers["X-Discourse-Event"]
    elif case == "malformed":
        headers, body = delivery("post_created", b'{"post": [}')
    elif case == "oversized":
        headers, body = delivery("post_created", post_payload(raw="长" * 200_000, category_id=5))
    elif case == "unknown key":
        key = "elsewhere"
    elif case == "stale":
        headers, body = delivery("post_created", post_payload(created=datetime(2020, 1, 1, tzinfo=UTC)))
    response = client.post(f"/webhooks/community/{key}", data=body, headers=headers)
    assert 400 <= response.status_code < 500
    assert "rejected" in caplog.text
    assert inbound(state) == [] and count(state, Fan) == 0 and count(state, Identity) == 0


def test_account_add_community(hub_config: dict[str, Any], app: Any, state: Any) -> None:
    env = {f"HUB_{k.upper()}": str(v) for k, v in hub_config.items()}
    runner = CliRunner()

    def run(*args: str) -> Any:
        return runner.invoke(cli, list(args), env=env, catch_exceptions=False)

    added = run("account", "add", "community", "--key", "forum", "--secret", "whsec", "--api-base",
                "http://127.0.0.1:8083", "--api-key", "apikey", "--api-username", "hub_bot", "--categories", "5, 7")
    assert added.exit_code == 0, added.output
    assert "/webhooks/community/forum" in added.output
    assert run("account", "add", "community", "--key", "bare", "--secret", "s2").exit_code == 0  # listens only
    assert run("account", "add", "community", "--key", "x1").exit_code != 0  # no secret
    assert run("account", "add", "community", "--key", "x2", "--secret", "s", "--categories", "5,a").exit_code != 0
    assert run("account", "add", "community", "--key", "x3", "--secret", "s", "--api-key", "k").exit_code != 0
    with Session(state.engine) as session:
        rows = {a.key: a for a in session.exec(select(Account).where(col(Account.channel) == "community")).all()}
    assert set(rows) == {"forum", "bare"}
    forum = rows["forum"]
    assert (forum.token, forum.app_secret, forum.api_base) == ("whsec", "apikey", "http://127.0.0.1:8083")
    assert forum.settings == {"api_username": "hub_bot", "categories": [5, 7]}
    # The account is live at once: its webhook answers a signed ping.
    headers, body = delivery("ping", {"ping": "OK"}, secret="whsec")
    assert app.test_client().post("/webhooks/community/forum", data=body, headers=headers).status_code == 200
    assert json.loads(body) == {"ping": "OK"}


POST_FIELDS = ["id", "user_id", "username", "name", "raw", "cooked", "topic_id", "post_number", "version",
               "post_type", "category_id", "created_at", "updated_at", "topic_title", "reply_to_post_number"]
odd_values = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63), st.floats(), st.text(max_size=300),
    st.sampled_from(["\u0000", "\ud800", "x" * 5000, "2023-02-09T10:19:46.324Z", "[quote]a[/quote]", "<p>&amp;</p>"]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(changes=st.dictionaries(st.sampled_from(POST_FIELDS), odd_values, max_size=4),
       name=st.sampled_from(["post_created", "post_edited"]))
def test_odd_signed_posts_never_get_a_5xx_from_the_hub(app: Any, state: Any, forum_account: int,
                                                       changes: dict[str, Any], name: str) -> None:
    """Authentic deliveries with odd field values, through the real hub and its database: a 200 (stored) or a
    4xx (nothing stored), never a 5xx."""
    before = len(inbound(state))
    payload = {"post": {**post_payload(category_id=5, post_id=abs(hash(repr(changes))) % 10**9)["post"], **changes}}
    response = post(app.test_client(), name, payload)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code != 200:
        assert len(inbound(state)) == before
