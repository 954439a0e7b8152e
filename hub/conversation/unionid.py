"""Learning a WeChat fan's unionid after the fact: WeChat's messages do not carry it, its `user/info` API does
(when the Official Account is bound to an Open Platform account). The worker asks once per identity, and again
on every subscribe (an account may have been bound since). A unionid already carried by another fan means one
person: the two fans are merged (into the older) through hub.conversation.identity.merge_fans, like an
operator's merge, logged as the hub's own.
"""

from __future__ import annotations

import logging

from sqlalchemy import update
from sqlmodel import Session, col, select

from channels.base import PermanentSendError
from hub.conversation.identity import FanConflict, merge_fans
from hub.core.db import session_scope
from hub.core.models import Account, Fan, Identity, Message, utcnow
from hub.core.queue import enqueue
from hub.core.state import HubState, get_state
from hub.outbound import channel_for

log = logging.getLogger("hub.conversation.unionid")
RETRIES = (10, 60, 300)  # seconds: user/info failing for a while (its quota, the network) is asked again


def wants_user_info(account: Account, identity: Identity, message: Message) -> bool:
    """Whether the worker should ask WeChat's user/info about this message's sender."""
    return account.channel == "wechat" and (identity.info_checked_at is None or message.event == "subscribe")


def enqueue_user_info(state: HubState, identity_id: int) -> bool:
    return enqueue(state.queue, learn_unionid, identity_id, retry_intervals=RETRIES, replace_dead=True)


def learn_unionid(identity_id: int) -> str:
    """The job: ask user/info, record the unionid, merge with the fan who has it already."""
    state = get_state()
    with Session(state.engine) as session:
        identity = session.get(Identity, identity_id)
        account = session.get(Account, identity.account_id) if identity is not None else None
    if identity is None or account is None or account.channel != "wechat":
        return "skipped: no such WeChat identity"
    try:
        info = channel_for(state, account).user_info(identity.external_id)
    except PermanentSendError as exc:  # e.g. the account may not call user/info: noted, not asked again
        log.warning("user/info refused", extra={"identity_id": identity_id, "error": str(exc)})
        return record_unionid(state, identity_id, None)
    unionid = info.get("unionid")
    return record_unionid(state, identity_id, str(unionid)[:128] if unionid else None)


def record_unionid(state: HubState, identity_id: int, unionid: str | None) -> str:
    """What user/info (or a channel) said about an identity's unionid: noted on the identity and its fan; a fan
    who has it already is the same person, and the two are merged. Returns what happened."""
    with session_scope(state.engine) as session:
        values: dict = {"info_checked_at": utcnow()}
        if unionid:
            values["unionid"] = unionid
        if not session.execute(update(Identity).where(col(Identity.id) == identity_id).values(**values)).rowcount:
            return "skipped: no such identity"
        if not unionid:
            return "no unionid"
        identity = session.get(Identity, identity_id, populate_existing=True)
        assert identity is not None
        fan = session.get(Fan, identity.fan_id, populate_existing=True)
        assert fan is not None
        if fan.unionid == unionid:
            return "known"
        if fan.unionid is not None:
            log.warning("an identity's unionid differs from its fan's; left as it is", extra={
                "identity_id": identity_id, "fan_id": fan.id})
            return "conflict: the fan has another unionid"
        owner = session.exec(select(Fan.id).where(Fan.unionid == unionid)).first()
        if owner is None:
            fan.unionid = unionid
            session.add(fan)
            return "recorded"
        fan_id = fan.id
    assert fan_id is not None
    keep, other = min(owner, fan_id), max(owner, fan_id)
    try:
        merge_fans(state, keep, other, automatic=True, reason="same WeChat unionid")
    except FanConflict as exc:  # e.g. two different CRM ids: an operator decides
        log.warning("fans with one unionid not merged", extra={"fan_id": keep, "other": other, "why": exc.message})
        return f"not merged: {exc.message}"
    return f"merged fan {other} into fan {keep}"
