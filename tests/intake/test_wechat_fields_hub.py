"""Property (issue 17): the WeChat field values of tests/channels/test_wechat_fields_property.py sent through
the hub's own webhook, which stores what it accepts (SQLite through the intake journal, PostgreSQL with its
column limits): never a 5xx, a 4xx with a reason, and every message answered 200 is in the database."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from channels.wechat.inbound import parse_message
from hub.core.db import session_scope
from hub.core.models import Account, Message
from hub.intake.journal import flush_all
from tests.channels.conftest import APP_ID, TOKEN
from tests.channels.test_wechat_fields_property import (
    _valid,
    bad_values,
    cases,
    fields_of,
    message,
    signed_request,
    to_xml,
)

_IDS = itertools.count(10**12)


def _stored(state: Any) -> set[str]:
    flush_all(state)
    with Session(state.engine) as session:
        return set(session.exec(select(Message.external_id).where(Message.direction == "in")).all())


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(case=cases, value=bad_values, valid=st.booleans(), data=st.data())
def test_any_field_value_through_the_hub(app: Any, state: Any, case: tuple[str, str], value: str, valid: bool,
                                         data: st.DataObject) -> None:
    with session_scope(state.engine) as session:
        if session.exec(select(Account).where(Account.key == "plain")).first() is None:
            session.add(Account(key="plain", channel="wechat", token=TOKEN, app_id=APP_ID, app_secret="s3cret"))
    shape, field = case
    if valid:
        value = data.draw(_valid(field)) if field not in ("FromUserName", "MsgType", "Event") else message(shape)[field]
    # a fresh MsgId unless the field under test is the id itself, so that nothing is a retry of an earlier example
    fields = message(shape, **({"MsgId": str(next(_IDS))} if "MsgId" in fields_of(shape) else {}))
    fields[field] = value
    xml = to_xml(fields)
    query, body = signed_request(xml, "plain")
    response = app.test_client().post(f"/webhooks/wechat/plain?{query}", data=body)
    text = response.get_data(as_text=True)
    assert response.status_code < 500, text
    if response.status_code >= 400:
        assert text.strip()
        return
    assert response.status_code == 200
    assert parse_message(xml, "plain").external_id in _stored(state), "an accepted message is stored"
    rejected = Path(state.config.instance_path) / "intake" / "rejected.jsonl"
    assert not rejected.exists() or not rejected.read_text().strip(), rejected.read_text()
