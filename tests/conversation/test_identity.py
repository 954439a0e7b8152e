"""One fan, one person: merging fans (history, tickets, tags, profile, CSAT, CRM id follow), splitting an identity
off (every message goes back to its identity), the unionid learned from user/info merging automatically, a
message accepted for a fan while it is merged, and a second process's cache. On SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import update
from sqlmodel import Session, col, select

from channels.base import InboundMessage
from hub.conversation import fan_cache
from hub.conversation.identity import (
    FanConflict,
    FanNotFound,
    IdentityError,
    merge_fans,
    resolve,
    set_crm_id,
    split_identity,
)
from hub.conversation.jobs import process_message
from hub.core.db import session_scope
from hub.core.models import Account, Fan, FanEvent, Identity, Message, utcnow
from hub.intake.accept import fan_for, store
from hub.intake.journal import flush_all
from hub.tags.models import FanProfile, FanTag, Tag
from hub.tags.profiles import set_manual_tag
from hub.tags.taxonomy import create_tag
from hub.tickets.models import ACTIVE, CLOSED, RESOLVED, Ticket, TicketMessage
from tests.support.tickets_setup import fan_message, make_account, open_for
from tests.support.wechat_setup import wire_account
from tests.tags.helpers import BEAUTY, TECH, active_tags, define_tags


def _forum(state: Any, key: str = "forum") -> int:
    with session_scope(state.engine) as session:
        account = Account(key=key, channel="community", name="论坛")
        session.add(account)
        session.flush()
        return int(account.id)


def _rows(state: Any, model: Any, *where: Any) -> list[Any]:
    with Session(state.engine) as session:
        return list(session.exec(select(model).where(*where)).all())


def _fan(state: Any, fan_id: int) -> Fan:
    with Session(state.engine) as session:
        return session.get(Fan, fan_id)


def _resolve_with_score(state: Any, ticket_id: int, score: int) -> None:
    with session_scope(state.engine) as session:
        session.execute(update(Ticket).where(col(Ticket.id) == ticket_id).values(
            status=RESOLVED, resolved_at=utcnow() - timedelta(days=2), csat_requested_at=utcnow() - timedelta(days=2),
            csat_score=score))  # long enough ago that the fan's next message opens a new ticket


def test_a_fan_on_wechat_and_the_forum_merged_has_one_history(state: Any) -> None:
    wechat, forum = make_account(state, "brand"), _forum(state)
    a1 = fan_message(state, wechat, "o-wechat", "我的订单还没到")
    b1 = fan_message(state, forum, "forum:7", "论坛里也问一下：订单一直没到")
    b2 = fan_message(state, forum, "forum:7", "还是没到，怎么办", fan_id=b1.fan_id)
    a2 = fan_message(state, wechat, "o-wechat", "能帮我查一下吗")
    wechat_ticket, _ = open_for(state, a1, run=False)
    old_forum_ticket, _ = open_for(state, b1, run=False)
    _resolve_with_score(state, old_forum_ticket, 5)  # answered, and the fan gave it 5
    forum_ticket, _ = open_for(state, b2, run=False)
    with session_scope(state.engine) as session:
        create_tag(session, "VIP", "manual")
        set_manual_tag(session, b1.fan_id, "VIP", True)
    set_crm_id(state, b1.fan_id, "CRM-0042")

    result = merge_fans(state, a1.fan_id, b1.fan_id, reason="the fan told us", display_name="fan o-wechat")

    keep, gone = a1.fan_id, b1.fan_id
    assert result["moved"] == {"identities": 1, "messages": 2, "tickets": 2, "tickets_merged": 1}
    history = _rows(state, Message, Message.fan_id == keep)
    assert [m.id for m in sorted(history, key=lambda m: m.id)] == sorted(m.id for m in (a1, a2, b1, b2))
    assert _rows(state, Message, Message.fan_id == gone) == []
    assert {i.external_id for i in _rows(state, Identity, Identity.fan_id == keep)} == {"o-wechat", "forum:7"}
    tickets = {t.id: t for t in _rows(state, Ticket, Ticket.fan_id == keep)}
    assert set(tickets) == {wechat_ticket, old_forum_ticket, forum_ticket}
    [active] = [t for t in tickets.values() if t.status in ACTIVE]  # one person, one conversation
    assert active.id == wechat_ticket and tickets[forum_ticket].merged_into_id == wechat_ticket
    with Session(state.engine) as session:
        linked = set(session.exec(select(TicketMessage.message_id).where(TicketMessage.ticket_id == active.id)))
    assert {a1.id, b2.id} <= linked
    assert tickets[old_forum_ticket].csat_score == 5  # CSAT lives on the ticket and followed it
    assert active_tags(state, keep) == {"VIP"} and _rows(state, FanTag, FanTag.fan_id == gone) == []
    kept, tombstone = _fan(state, keep), _fan(state, gone)
    assert kept.crm_id == "CRM-0042" and tombstone.crm_id is None and tombstone.merged_into_id == keep
    with Session(state.engine) as session:
        assert resolve(session, gone).id == keep  # links and lookups of the merged fan reach the kept one
    [event] = _rows(state, FanEvent, FanEvent.kind == "merge")
    assert (event.fan_id, event.other_fan_id, event.reason) == (keep, gone, "the fan told us")
    assert event.data["messages"] == 2


def test_two_active_tickets_on_one_account_are_merged_into_one(state: Any) -> None:
    forum = _forum(state)
    a = fan_message(state, forum, "forum:alice", "账号登不上")
    b = fan_message(state, forum, "forum:alice-2", "这是我的小号，也登不上")
    first, _ = open_for(state, a, run=False)
    second, _ = open_for(state, b, run=False)

    result = merge_fans(state, a.fan_id, b.fan_id, display_name="fan forum:alice")

    assert result["moved"]["tickets_merged"] == 1
    tickets = {t.id: t for t in _rows(state, Ticket, Ticket.fan_id == a.fan_id)}
    assert [t.id for t in tickets.values() if t.status in ACTIVE] == [first]  # the older one is kept
    assert tickets[second].status == CLOSED and tickets[second].merged_into_id == first
    linked = {row.message_id for row in _rows(state, TicketMessage, TicketMessage.ticket_id == first)}
    assert linked == {a.id, b.id}  # one ticket with the whole conversation


def test_a_split_gives_every_message_back_to_its_identity(state: Any) -> None:
    wechat, forum = make_account(state, "brand"), _forum(state)
    mine = [fan_message(state, wechat, "o-1", f"微信消息 {n}") for n in range(3)]
    theirs = [fan_message(state, forum, "forum:1", f"论坛帖子 {n}") for n in range(2)]
    open_for(state, mine[0], run=False)
    forum_ticket, _ = open_for(state, theirs[0], run=False)
    with session_scope(state.engine) as session:
        create_tag(session, "VIP", "manual")
        set_manual_tag(session, mine[0].fan_id, "VIP", True)
    merge_fans(state, mine[0].fan_id, theirs[0].fan_id, display_name="fan o-1")
    forum_identity = theirs[0].identity_id

    result = split_identity(state, forum_identity, reason="two people after all")

    new, old = result["fan_id"], mine[0].fan_id
    assert result["moved"] == {"messages": 2, "tickets": 1} and new not in (old, theirs[0].fan_id)
    with Session(state.engine) as session:
        by_message = dict(session.exec(select(Message.id, Message.fan_id)).all())
    assert {m.id: by_message[m.id] for m in mine} == {m.id: old for m in mine}
    assert {m.id: by_message[m.id] for m in theirs} == {m.id: new for m in theirs}
    assert [t.id for t in _rows(state, Ticket, Ticket.fan_id == new)] == [forum_ticket]
    assert [i.id for i in _rows(state, Identity, Identity.fan_id == new)] == [forum_identity]
    assert active_tags(state, new) == {"VIP"} == active_tags(state, old)  # manual tags are copied
    [event] = _rows(state, FanEvent, FanEvent.kind == "split")
    assert (event.fan_id, event.other_fan_id, event.identity_id) == (old, new, forum_identity)


def test_merges_and_splits_that_cannot_be_are_refused_with_the_reason(state: Any) -> None:
    wechat = make_account(state, "brand")
    a = fan_message(state, wechat, "o-a", "hi")
    b = fan_message(state, wechat, "o-b", "hi")
    c = fan_message(state, wechat, "o-c", "hi")
    with pytest.raises(FanConflict, match="itself"):
        merge_fans(state, a.fan_id, a.fan_id)
    with pytest.raises(FanNotFound):
        merge_fans(state, a.fan_id, 9999)
    with session_scope(state.engine) as session:
        session.execute(update(Fan).where(col(Fan.id) == a.fan_id).values(unionid="u-a"))
        session.execute(update(Fan).where(col(Fan.id) == b.fan_id).values(unionid="u-b"))
    with pytest.raises(FanConflict, match="different unionids"):
        merge_fans(state, a.fan_id, b.fan_id)
    set_crm_id(state, a.fan_id, "CRM-A")
    set_crm_id(state, c.fan_id, "CRM-C")
    with pytest.raises(FanConflict, match="different CRM ids"):
        merge_fans(state, a.fan_id, c.fan_id)
    with pytest.raises(FanConflict, match="belongs to fan"):
        set_crm_id(state, b.fan_id, "CRM-A")
    with pytest.raises(IdentityError, match="printable"):
        set_crm_id(state, b.fan_id, "has space")
    set_crm_id(state, c.fan_id, None)
    with pytest.raises(FanConflict, match="display names"):  # fan_message names each fan after its openid
        merge_fans(state, a.fan_id, c.fan_id)
    merge_fans(state, a.fan_id, c.fan_id, display_name="fan o-c")
    assert _fan(state, a.fan_id).display_name == "fan o-c" and _fan(state, a.fan_id).crm_id == "CRM-A"
    with pytest.raises(FanConflict, match=f"merged into fan {a.fan_id}"):
        merge_fans(state, b.fan_id, c.fan_id, display_name="fan o-b")
    with pytest.raises(FanConflict, match="only identity"):
        split_identity(state, b.identity_id)
    with pytest.raises(FanNotFound):
        split_identity(state, 9999)
    assert len(_rows(state, FanEvent, FanEvent.kind == "merge")) == 1  # nothing else changed anything


def test_tags_and_profile_follow_a_merge_and_a_split(state: Any) -> None:
    define_tags(state, {"美妆": BEAUTY, "数码": TECH})
    wechat, forum = make_account(state, "brand"), _forum(state)
    beauty = [fan_message(state, wechat, "o-1", text) for text in ("想买口红", "粉底推荐一下", "眼影怎么选")]
    tech = [fan_message(state, forum, "forum:1", text) for text in ("新手机怎么样", "耳机推荐", "平板充电器")]
    from hub.tags.fans import recompute

    with session_scope(state.engine) as session:  # each fan's profile as the worker would have it
        from hub.tags.classifiers import model_for

        model = model_for(state, "interest")
        for fan_id in (beauty[0].fan_id, tech[0].fan_id):
            recompute(session, fan_id, model, {})
    assert active_tags(state, beauty[0].fan_id) == {"美妆"} and active_tags(state, tech[0].fan_id) == {"数码"}

    merge_fans(state, beauty[0].fan_id, tech[0].fan_id, display_name="fan o-1")
    keep = beauty[0].fan_id
    assert active_tags(state, keep) == {"美妆", "数码"}
    [profile] = _rows(state, FanProfile, FanProfile.fan_id == keep)
    assert profile.data["messages"] == 6 and profile.last_message_id == max(m.id for m in beauty + tech)
    assert _rows(state, FanProfile, FanProfile.fan_id == tech[0].fan_id) == []

    new = split_identity(state, tech[0].identity_id)["fan_id"]
    assert active_tags(state, keep) == {"美妆"} and active_tags(state, new) == {"数码"}
    [profile] = _rows(state, FanProfile, FanProfile.fan_id == new)
    assert profile.data["messages"] == 3


def _stored(state: Any, ref: Any, inbound: InboundMessage) -> int:
    """Accept a message as the webhook does, with this fan ref; its id (a journaled one once it is loaded)."""
    result = store(state, ref, inbound, None)
    if result.message_id is not None:
        return result.message_id
    assert flush_all(state)
    [message_id] = _rows(state, Message.id, Message.external_id == inbound.external_id)
    return message_id


def _inbound(account_key: str, sender: str, external_id: str) -> InboundMessage:
    return InboundMessage(channel="community", account=account_key, sender=sender, kind="text", text="还在吗",
                          external_id=external_id, sent_at=utcnow() - timedelta(seconds=1), raw="{}")


def test_a_message_accepted_for_a_fan_while_it_is_merged_ends_on_the_kept_fan(state: Any) -> None:
    wechat, forum = make_account(state, "brand"), _forum(state)
    a = fan_message(state, wechat, "o-a", "hi")
    stale = fan_for(state, forum, _inbound("forum", "forum:b", "p-0"))  # the webhook's cache knows fan B
    merge_fans(state, a.fan_id, stale.fan_id)
    stored = _stored(state, stale, _inbound("forum", "forum:b", "p-1"))  # accepted with the cached fan
    process_message(stored)  # its worker puts it on the fan its identity belongs to now
    [message] = _rows(state, Message, Message.id == stored)
    assert message.fan_id == a.fan_id


def test_messages_accepted_during_concurrent_merges_all_end_on_the_kept_fan(state: Any) -> None:
    wechat, forum = make_account(state, "brand"), _forum(state)
    keep = fan_message(state, wechat, "o-keep", "hi").fan_id
    senders = [f"forum:{n}" for n in range(4)]
    refs = [fan_for(state, forum, _inbound("forum", s, f"first-{s}")) for s in senders]
    stop = threading.Event()
    stored: list[int] = []
    errors: list[BaseException] = []

    def accept_and_process() -> None:
        n = 0
        try:
            while not stop.is_set():
                n += 1
                for sender in senders:
                    ref = fan_for(state, forum, _inbound("forum", sender, f"{sender}-{n}"))
                    message_id = _stored(state, ref, _inbound("forum", sender, f"{sender}-{n}"))
                    process_message(message_id)
                    stored.append(message_id)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=accept_and_process)
    thread.start()
    try:
        for ref in refs:
            merge_fans(state, keep, ref.fan_id)
    finally:
        stop.set()
        thread.join(60)
    assert not errors and stored
    with Session(state.engine) as session:
        fans = set(session.exec(select(Message.fan_id).where(col(Message.account_id) == forum)).all())
        identities = set(session.exec(select(Identity.fan_id)).all())
    assert fans == {keep} and identities == {keep}


def test_a_second_process_sees_the_merge(state: Any, hub_config: dict[str, Any]) -> None:
    from hub.app import create_app

    wechat, forum = make_account(state, "brand"), _forum(state)
    a = fan_message(state, wechat, "o-a", "hi")
    other_state = create_app(hub_config).extensions["hub"]  # another web process: its own caches, same Redis
    try:
        before = fan_for(other_state, forum, _inbound("forum", "forum:b", "p-0"))
        assert fan_for(other_state, forum, _inbound("forum", "forum:b", "p-1")) is before  # served from its cache
        merge_fans(state, a.fan_id, before.fan_id)
        time.sleep(fan_cache.CHECK_SECONDS + 0.05)
        assert fan_for(other_state, forum, _inbound("forum", "forum:b", "p-2")).fan_id == a.fan_id
    finally:
        other_state.engine.dispose()


def test_a_unionid_learned_later_merges_the_fans(state: Any, live_hub: Any, sandbox: Any, worker: Any) -> None:
    first = wire_account(state, live_hub.url, sandbox.url, key="brand")
    second = wire_account(state, live_hub.url, sandbox.url, key="brand2")
    for wired, openid in ((first, "o-first"), (second, "o-second")):
        response = requests.post(f"{sandbox.url}/sandbox/fans", json={
            "appid": wired.app_id, "openid": openid, "unionid": "u-same-person"}, timeout=10)
        assert response.status_code == 201, response.text
    first.say("o-first", text="你好")
    worker()
    [fan] = _rows(state, Fan)
    assert fan.unionid == "u-same-person"  # learned from user/info: WeChat's messages do not carry it

    second.say("o-second", event="subscribe")  # the same person follows the second account
    second.say("o-second", text="我在另一个公众号")
    worker()

    [kept] = _rows(state, Fan, col(Fan.merged_into_id).is_(None))
    assert kept.id == fan.id and kept.unionid == "u-same-person"
    assert {i.external_id for i in _rows(state, Identity, Identity.fan_id == kept.id)} == {"o-first", "o-second"}
    assert {m.fan_id for m in _rows(state, Message)} == {kept.id}
    [event] = _rows(state, FanEvent, FanEvent.kind == "merge")
    assert event.actor_id is None and event.reason == "same WeChat unionid"
    second.say("o-second", text="再问一句")  # the webhook's cache knows the merge: the message goes to the kept fan
    worker()
    assert {m.fan_id for m in _rows(state, Message)} == {kept.id}


def test_tag_rows_never_point_at_merged_fans(state: Any) -> None:
    wechat = make_account(state, "brand")
    a = fan_message(state, wechat, "o-a", "hi")
    b = fan_message(state, wechat, "o-b", "hi")
    with session_scope(state.engine) as session:
        create_tag(session, "VIP", "manual")
        create_tag(session, "黑名单", "manual")
        set_manual_tag(session, a.fan_id, "VIP", False)  # taken off A by hand, put on B by hand: on
        set_manual_tag(session, b.fan_id, "VIP", True)
        set_manual_tag(session, b.fan_id, "黑名单", False)
    merge_fans(state, a.fan_id, b.fan_id, display_name="fan o-a")
    with Session(state.engine) as session:
        rows = session.exec(select(Tag.name, FanTag.active, FanTag.source).join(Tag, col(Tag.id) == FanTag.tag_id)
                            .where(FanTag.fan_id == a.fan_id)).all()
    assert sorted(rows) == [("VIP", True, "manual")]
    [profile] = _rows(state, FanProfile, FanProfile.fan_id == a.fan_id)
    assert profile.data["manual"] == {"VIP": True, "黑名单": False}  # the hand-made decisions of both, kept


def test_the_cli_merges_splits_and_sets_a_crm_id(state: Any, hub_config: dict[str, Any]) -> None:
    from tests.tags.helpers import cli_runner

    run = cli_runner(hub_config)
    wechat, forum = make_account(state, "brand"), _forum(state)
    a = fan_message(state, wechat, "o-a", "hi")
    b = fan_message(state, forum, "forum:b", "hi")
    refused = run("fans", "merge", str(a.fan_id), str(b.fan_id))
    assert refused.exit_code != 0 and "display names" in refused.output
    merged = run("fans", "merge", str(a.fan_id), str(b.fan_id), "--name", "fan o-a")
    assert merged.exit_code == 0 and f"fan {b.fan_id} merged into fan {a.fan_id}" in merged.output
    shown = run("fans", "show", str(b.fan_id), "--json")  # the merged fan's id shows the kept fan
    assert f'"fan_id": {a.fan_id}' in shown.output and "forum:b" in shown.output
    assert run("fans", "crm", str(a.fan_id), "CRM-5").exit_code == 0
    assert _fan(state, a.fan_id).crm_id == "CRM-5"
    split = run("fans", "split", str(b.identity_id), "--json")
    assert split.exit_code == 0 and _rows(state, Identity, Identity.id == b.identity_id)[0].fan_id not in (
        a.fan_id, b.fan_id)
    again = run("fans", "split", str(b.identity_id))
    assert again.exit_code != 0 and "only identity" in again.output


def test_wechat_user_tags_follow_a_merge_and_a_split(state: Any, live_hub: Any, sandbox: Any) -> None:
    from hub.tags.wechat_sync import sync_account

    brand = wire_account(state, live_hub.url, sandbox.url)
    with Session(state.engine) as session:
        account_id = session.exec(select(Account.id).where(Account.key == brand.key)).one()
    a = fan_message(state, account_id, "openid-a", "hi")
    b = fan_message(state, account_id, "openid-b", "hi")
    for openid in ("openid-a", "openid-b"):
        sandbox.state.add_fan(brand.app_id, openid)
    with session_scope(state.engine) as session:
        create_tag(session, "VIP", "manual")
        create_tag(session, "黑名单", "manual")
        set_manual_tag(session, a.fan_id, "VIP", True)
        set_manual_tag(session, b.fan_id, "黑名单", True)

    def remote() -> dict[str, set[str]]:
        sync_account(state, account_id)  # incremental: only rows changed since the last sync are pushed
        names = {t["id"]: t["name"] for t in sandbox.state.tags(brand.app_id, "list")}
        return {f["openid"]: {names[i] for i in f["tags"]} for f in sandbox.state.fans(brand.app_id)}

    assert remote() == {"openid-a": {"VIP"}, "openid-b": {"黑名单"}}
    merge_fans(state, a.fan_id, b.fan_id, display_name="fan openid-a")
    assert remote() == {"openid-a": {"VIP", "黑名单"}, "openid-b": {"VIP", "黑名单"}}  # one person, one set of tags
    new = split_identity(state, b.identity_id)["fan_id"]
    with session_scope(state.engine) as session:
        set_manual_tag(session, a.fan_id, "黑名单", False)
    assert active_tags(state, new) == {"VIP", "黑名单"}
    assert remote() == {"openid-a": {"VIP"}, "openid-b": {"VIP", "黑名单"}}
