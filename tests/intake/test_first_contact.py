"""A fan's first message: the fan and identity are created in one transaction; concurrent first messages
from the same fan end with one identity and one fan; a unionid joins accounts into one fan. On SQLite and
PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlmodel import Session

from channels.base import InboundMessage
from hub.core.db import session_scope
from hub.core.models import Account, Fan, Identity, utcnow
from hub.intake.accept import fan_for


def _account(state: Any, key: str) -> int:
    with session_scope(state.engine) as session:
        account = Account(key=key, channel="wechat")
        session.add(account)
        session.flush()
        return int(account.id)


def _inbound(sender: str, **kw: Any) -> InboundMessage:
    fields: dict[str, Any] = {"channel": "wechat", "account": "a", "sender": sender, "kind": "text", "text": "hi",
                              "external_id": "x", "sent_at": utcnow() - timedelta(seconds=5), "raw": "<xml/>"}
    return InboundMessage(**{**fields, **kw})


def _count(state: Any, model: Any) -> int:
    with Session(state.engine) as session:
        return session.scalar(select(func.count()).select_from(model))


def test_concurrent_first_messages_of_one_fan_make_one_fan(state: Any) -> None:
    account_id = _account(state, "a")
    refs: list[Any] = []
    barrier = threading.Barrier(8)

    def first_message() -> None:
        barrier.wait()
        state.caches.pop("fan_refs", None)  # as if each came to another web process
        refs.append(fan_for(state, account_id, _inbound("o-new")))

    threads = [threading.Thread(target=first_message) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(refs) == 8 and len({(r.identity_id, r.fan_id) for r in refs}) == 1
    assert _count(state, Identity) == 1 and _count(state, Fan) == 1  # the losers' fans were rolled back


def test_the_first_message_is_the_fans_first_activity_but_a_notice_is_not(state: Any) -> None:
    account_id = _account(state, "a")
    message = _inbound("o-talks")
    talks = fan_for(state, account_id, message)
    notice = fan_for(state, account_id, _inbound("o-notified", kind="event", event="templatesendjobfinish", text=""))
    assert talks.last_inbound_at == message.sent_at and notice.last_inbound_at is None
    with Session(state.engine) as session:
        stored = dict(session.exec(select(Identity.external_id, Identity.last_inbound_at)).all())
    assert stored == {"o-talks": message.sent_at, "o-notified": None}


def test_one_unionid_is_one_fan_across_accounts(state: Any) -> None:
    first, second = _account(state, "a"), _account(state, "b")
    one = fan_for(state, first, _inbound("o-in-a", extra={"unionid": "u-1"}))
    other = fan_for(state, second, _inbound("o-in-b", account="b", extra={"unionid": "u-1"}))
    assert one.fan_id == other.fan_id and one.identity_id != other.identity_id
    assert _count(state, Fan) == 1 and _count(state, Identity) == 2


def test_concurrent_first_messages_with_one_unionid_on_many_accounts_make_one_fan(state: Any) -> None:
    accounts = [_account(state, f"acct-{n}") for n in range(6)]
    refs: list[Any] = []
    barrier = threading.Barrier(len(accounts))

    def first_message(account_id: int, n: int) -> None:
        barrier.wait()
        refs.append(fan_for(state, account_id, _inbound(f"o-{n}", account=f"acct-{n}", extra={"unionid": "u-race"})))

    threads = [threading.Thread(target=first_message, args=(a, n)) for n, a in enumerate(accounts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(refs) == len(accounts) and len({r.fan_id for r in refs}) == 1
    assert _count(state, Fan) == 1 and _count(state, Identity) == len(accounts)
