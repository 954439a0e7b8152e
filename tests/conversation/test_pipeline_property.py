"""Property (issue 17): whatever text a fan sends — empty, one character, digits, emoji, control characters,
10,000 characters, mixed scripts, traditional characters — goes through the whole path with the real
models (the demo's rules and knowledge base, the trained intent and interest models): the signed, encrypted
webhook request, the passive-reply bots, storage, and `process_message` (tagging, the bots, replies and
tickets). Nothing raises, and every message ends `processed` with a reply or a hand-off (a ticket).

SQLite only: the path is the same code on PostgreSQL (covered there by the example tests of tests/intake and
tests/conversation),
and the parametrisation would double the run time without reaching other code."""

from __future__ import annotations

import itertools
import logging
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select

from channels.base import TEXT, InboundMessage
from hub.conversation.jobs import process_message
from hub.core.models import Message
from hub.intake.journal import flush_all
from hub.intake.webhooks import WebhookHandler
from hub.sandbox.wechat import FanSimulator
from tests.support.demo_setup import prepare_demo

SPECIAL = ["", " ", "1", "2", "9", "好", "嗯", "？", "🙂", "👍🏻", "🇨🇳", "\u200b", "\ufeff", "\u202e退货", "\x7f",
           "\x85", "\x00", "\x1f", "\t\n", "請問怎麼退貨", "門市幾點營業", "退货 refund どうやって 환불 возврат",
           "ＦＩＮＤＸ７", "①", "价格", "没用", "转人工", "怎么修改地址", "a" * 10_000, "退" * 10_000, "🙂" * 10_000,
           "請問" * 5_000]
texts = st.one_of(
    st.sampled_from(SPECIAL),
    st.text(max_size=1),
    st.text(alphabet="0123456789", min_size=1, max_size=4),
    st.text(alphabet=st.characters(categories=["Cc", "Cf", "Zs", "Zl", "Zp"]), max_size=6),
    st.text(alphabet=st.characters(min_codepoint=0x1F300, max_codepoint=0x1FAFF), max_size=6),
    st.text(max_size=40),
    st.text(alphabet="退货款发票會員积分門市怎么麼吗嗎？ab1 ", max_size=20),
    st.text(min_size=1, max_size=3).map(lambda t: (t * (10_000 // len(t) + 1))[:10_000]),
)
MSG_IDS = itertools.count(9_000_000_000)


def _xml_safe(text: str) -> bool:
    """What XML 1.0 can carry, and so what WeChat can deliver (no C0 controls but tab and newlines)."""
    return all(ch in "\t\n\r" or (ord(ch) >= 0x20 and ch not in "\ufffe\uffff" and
                                  unicodedata.category(ch) != "Cs") for ch in text)


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, sqlite_template: Any, tmp_path: Any) -> str:
    import shutil

    target = tmp_path / "hub.core.db"
    shutil.copy(sqlite_template, target)
    return f"sqlite:///{target}"


class Errors(logging.Handler):
    """Errors the webhook logs and swallows (a bot that raised there is retried by the worker)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(self.format(record))


@pytest.fixture
def demo(app: Any, state: Any) -> Iterator[dict[str, Any]]:
    account = prepare_demo(state, "http://127.0.0.1:9")  # replies are recorded, not sent
    fan = FanSimulator("", account.token, account.app_id, account.aes_key)
    errors, logger = Errors(), logging.getLogger("hub")
    logger.addHandler(errors)
    yield {"account": account, "fan": fan, "client": app.test_client(), "handler": WebhookHandler(state),
           "errors": errors}
    logger.removeHandler(errors)


def _deliver(demo: dict[str, Any], state: Any, openid: str, text: str) -> int:
    """The fan's message through the signed, encrypted webhook; text that XML cannot carry (WeChat could not
    deliver it either) is refused there with a 400 and handed to the hub's side of the webhook directly."""
    msg_id = next(MSG_IDS)
    params, body = demo["fan"].build_signed_request(openid, text, msg_id=msg_id)
    response = demo["client"].post(f"/webhooks/wechat/{demo['account'].key}", query_string=params, data=body)
    if _xml_safe(text):
        assert response.status_code == 200, response.get_data(as_text=True)
    else:
        assert response.status_code == 400, response.get_data(as_text=True)
        demo["handler"](InboundMessage(channel="wechat", account=demo["account"].key, sender=openid, kind=TEXT,
                                       text=text, external_id=str(msg_id), sent_at=datetime.now(UTC)))
    flush_all(state)
    with Session(state.engine) as session:
        return session.exec(select(Message.id).where(Message.external_id == str(msg_id))).one()


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
@given(text=texts, openid=st.sampled_from(["fan-a", "fan-b", "fan-c"]))
def test_any_text_is_processed_with_a_reply_or_a_hand_off(demo: dict[str, Any], state: Any, text: str,
                                                          openid: str) -> None:
    demo["errors"].messages.clear()
    message_id = _deliver(demo, state, openid, text)
    assert not demo["errors"].messages, demo["errors"].messages  # the webhook's bots
    assert process_message(message_id) == "processed"
    with Session(state.engine) as session:
        message = session.get(Message, message_id)
        replies = session.exec(select(Message).where(Message.reply_to_id == message_id)).all()
    assert message.status == "processed", message.error_message
    assert replies or (message.meta or {}).get("ticket_id"), f"neither a reply nor a hand-off for {text[:40]!r}"
    assert not demo["errors"].messages, demo["errors"].messages
