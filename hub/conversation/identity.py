"""One fan, one person: merging two fans, splitting an identity off a fan, a fan's CRM id.

Merge (B into A): B's identities, messages, tickets (two active ones on one account are folded with the ticket
merge), tags and profile (recomputed: hub.tags.fans), CSAT (on the tickets), unionid and CRM id move to A.
B stays as a tombstone (`merged_into_id` = A): nothing references a deleted row, and a link or lookup of B
resolves to A (`resolve`). Different unionids or CRM ids, or two different display names without a choice,
refuse the merge (FanConflict, a 409). Split: a new fan gets the identity, its messages (by identity), the
tickets of its account, a recomputed profile and a copy of the manual tags; the old fan's profile is
recomputed too. Each is one transaction, logged in `fanevent` (who, when, what moved), and every process's
identity → fan caches start over (hub.conversation.fan_cache).

Concurrency. Both start by locking the identities they change (`_lock_identities`), the order the webhook
(identity, then fan) and the worker (identity, see `settle_fan`) take them in. A worker processing a message of
one of those identities either finished before (its ticket and profile changes are moved) or waits and then finds
the identity's new fan; a message stored with a cached fan meanwhile is moved there by its worker. A deadlock
with a concurrent writer (PostgreSQL aborts one) is tried again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, func, select

from hub.conversation.fan_cache import fans_changed
from hub.core.config import Config
from hub.core.db import session_scope
from hub.core.models import Account, Fan, FanEvent, Identity, Message
from hub.core.state import HubState
from hub.tags import fan_tag_summary, merge_fan_tags, model_for, split_fan_tags
from hub.tickets import Effects, merge_fan_tickets, run_effects, split_fan_tickets, ticket_counts
from knowledge.classifier import Model

log = logging.getLogger("hub.conversation.identity")
T = TypeVar("T")
ATTEMPTS = 3  # a deadlock with a concurrent writer (PostgreSQL picks a victim) is tried again
MAX_CRM_ID = 128
_CRM_ID = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: what CRMs use for keys


class IdentityError(Exception):
    """A refused merge, split or CRM id, with the HTTP status the API answers and what to do."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class FanNotFound(IdentityError):
    status = 404


class FanConflict(IdentityError):
    status = 409


def resolve(session: Session, fan_id: int) -> Fan | None:
    """The fan `fan_id` names now: itself, or the fan it was merged into (tombstones followed)."""
    fan = session.get(Fan, fan_id)
    for _ in range(32):
        if fan is None or fan.merged_into_id is None:
            return fan
        fan = session.get(Fan, fan.merged_into_id)
    return fan


def find_by_crm_id(session: Session, crm_id: str) -> Fan | None:
    return session.exec(select(Fan).where(Fan.crm_id == crm_id)).first()


def _interest_model(state: HubState) -> Model | None:
    """Loaded before any lock is taken: the first load in a process can take a second."""
    return model_for(state, "interest", wait=True)


def _retrying(state: HubState, work: Callable[[Session, Effects], T]) -> tuple[T, Effects]:
    for attempt in range(1, ATTEMPTS + 1):
        fx = Effects()
        try:
            with session_scope(state.engine) as session:
                return work(session, fx), fx
        except (OperationalError, IntegrityError) as exc:  # a deadlock, or a row a concurrent writer took first
            if attempt == ATTEMPTS:
                raise FanConflict("the fans changed while this ran (a concurrent change); try again") from exc
            log.info("fan change retried", extra={"attempt": attempt, "error": type(exc).__name__})
    raise AssertionError("unreachable")


def _lock_identities(session: Session, *where: Any) -> int:
    """Lock the identities first, before anything else; returns how many. PostgreSQL: FOR UPDATE, which waits for
    the workers' KEY SHARE locks (`settle_fan`) and holds up new messages of these identities (their foreign key)
    until the commit, but not the webhook's activity updates. SQLite: the writer lock."""
    if session.get_bind().dialect.name == "sqlite":
        return int(session.execute(update(Identity).where(*where).values(fan_id=Identity.fan_id)).rowcount)
    return len(session.exec(select(Identity.id).where(*where).order_by(col(Identity.id)).with_for_update()).all())


def _fresh(session: Session, fan_id: int) -> Fan:
    fan = session.get(Fan, fan_id, populate_existing=True)
    if fan is None:
        raise FanNotFound(f"no fan {fan_id}")
    if fan.merged_into_id is not None:
        raise FanConflict(f"fan {fan_id} was merged into fan {fan.merged_into_id}; use that fan")
    return fan


def _one_of(field: str, a: str | None, b: str | None, keep_id: int, other_id: int) -> str | None:
    if a and b and a != b:
        raise FanConflict(f"fans {keep_id} and {other_id} have different {field}s ({a!r} and {b!r}): "
                          f"they are two people to the {'WeChat platform' if field == 'unionid' else 'CRM'}; "
                          "not merged")
    return a or b


def merge_fans(state: HubState, keep_id: int, other_id: int, *, actor_id: int | None = None, reason: str = "",
               display_name: str | None = None, automatic: bool = False) -> dict[str, Any]:
    """Merge fan `other_id` into `keep_id` (see the module's docstring). Returns what moved."""
    if keep_id == other_id:
        raise FanConflict("a fan cannot be merged with itself")
    model = _interest_model(state)
    result, fx = _retrying(state, lambda session, fx: _merge(
        session, state.config, keep_id, other_id, actor_id, reason, display_name, automatic, model, fx))
    fans_changed(state)
    run_effects(state, fx)
    log.info("fans merged", extra={"fan_id": keep_id, "merged": other_id, "actor_id": actor_id, **result["moved"]})
    return result


def _merge(session: Session, config: Config, keep_id: int, other_id: int, actor_id: int | None, reason: str,
           display_name: str | None, automatic: bool, model: Model | None, fx: Effects) -> dict[str, Any]:
    for fan_id in (keep_id, other_id):
        _fresh(session, fan_id)  # a clear 404/409 before any lock
    _lock_identities(session, col(Identity.fan_id).in_([keep_id, other_id]))
    keep, other = _fresh(session, keep_id), _fresh(session, other_id)  # as they are now that we hold the locks
    unionid = _one_of("unionid", keep.unionid, other.unionid, keep_id, other_id)
    crm_id = _one_of("CRM id", keep.crm_id, other.crm_id, keep_id, other_id)
    name = _display_name(keep, other, display_name, automatic)
    identities = session.exec(select(Identity.id).where(Identity.fan_id == other_id)).all()
    session.execute(update(Identity).where(col(Identity.fan_id) == other_id).values(fan_id=keep_id))
    messages = session.execute(update(Message).where(col(Message.fan_id) == other_id).values(fan_id=keep_id)).rowcount
    tickets = merge_fan_tickets(session, config, keep_id, other_id, actor_id, fx)
    tags = merge_fan_tags(session, keep_id, other_id, model)
    other.unionid, other.crm_id, other.merged_into_id = None, None, keep_id
    session.add(other)
    session.flush()  # the unique unionid and CRM id leave the merged fan before the kept one takes them
    keep.unionid, keep.crm_id, keep.display_name = unionid, crm_id, name
    keep.created_at = min(keep.created_at, other.created_at)
    keep.last_seen_at = max(keep.last_seen_at, other.last_seen_at)
    session.add(keep)
    session.execute(update(Fan).where(col(Fan.merged_into_id) == other_id).values(merged_into_id=keep_id))
    moved = {"identities": len(identities), "messages": int(messages), "tickets": tickets["moved"],
             "tickets_merged": len(tickets["merged"])}
    session.add(FanEvent(kind="merge", fan_id=keep_id, other_fan_id=other_id, actor_id=actor_id,
                         reason=(reason or ("same WeChat unionid" if automatic else ""))[:200],
                         data={**moved, "ticket_merges": tickets["merged"], "tags": tags["tags"]}))
    return {"fan_id": keep_id, "merged": other_id, "moved": moved, "tags": tags["tags"]}


def _display_name(keep: Fan, other: Fan, chosen: str | None, automatic: bool) -> str:
    if chosen is not None:
        if chosen not in (keep.display_name, other.display_name):
            raise IdentityError(f"display_name must be one of the two fans' names ({keep.display_name!r} or "
                                f"{other.display_name!r})")
        return chosen
    if keep.display_name and other.display_name and keep.display_name != other.display_name and not automatic:
        raise FanConflict(f"fans {keep.id} and {other.id} have different display names ({keep.display_name!r} and "
                          f"{other.display_name!r}): say which to keep (display_name)")
    return keep.display_name or other.display_name


def split_identity(state: HubState, identity_id: int, *, actor_id: int | None = None,
                   reason: str = "") -> dict[str, Any]:
    """A new fan for this identity, with its messages and tickets (see the module's docstring)."""
    model = _interest_model(state)
    result, fx = _retrying(state, lambda session, fx: _split(session, identity_id, actor_id, reason, model, fx))
    fans_changed(state)
    run_effects(state, fx)
    log.info("identity split off", extra={"identity_id": identity_id, "fan_id": result["from_fan_id"],
                                          "new_fan_id": result["fan_id"], "actor_id": actor_id})
    return result


def _split(session: Session, identity_id: int, actor_id: int | None, reason: str, model: Model | None,
           fx: Effects) -> dict[str, Any]:
    if not _lock_identities(session, col(Identity.id) == identity_id):
        raise FanNotFound(f"no identity {identity_id}")
    identity = session.get(Identity, identity_id, populate_existing=True)
    assert identity is not None
    old = _fresh(session, identity.fan_id)
    others = session.exec(select(Identity).where(Identity.fan_id == old.id, Identity.id != identity_id)).all()
    if not others:
        raise FanConflict(f"identity {identity_id} is fan {old.id}'s only identity: there is nothing to split it from")
    if identity.unionid and any(o.unionid == identity.unionid for o in others):
        raise FanConflict(f"identity {identity_id} shares the WeChat unionid {identity.unionid!r} with another "
                          f"identity of fan {old.id}: WeChat says they are one person")
    new = Fan(display_name=old.display_name, created_at=identity.created_at,
              last_seen_at=identity.last_inbound_at or identity.created_at)
    if identity.unionid and identity.unionid == old.unionid:  # the unionid came with this identity: it goes along
        old.unionid = None
        session.add(old)
        session.flush()
        new.unionid = identity.unionid
    session.add(new)
    session.flush()
    assert new.id is not None and old.id is not None
    identity.fan_id = new.id
    session.add(identity)
    messages = session.execute(update(Message).where(col(Message.fan_id) == old.id,
                                                     col(Message.identity_id) == identity_id)
                               .values(fan_id=new.id)).rowcount
    whole_account = not any(o.account_id == identity.account_id for o in others)
    tickets = split_fan_tickets(session, old.id, new.id, identity_id, identity.account_id, whole_account,
                                actor_id, fx)
    tags = split_fan_tags(session, old.id, new.id, model)
    moved = {"messages": int(messages), "tickets": len(tickets)}
    session.add(FanEvent(kind="split", fan_id=old.id, other_fan_id=new.id, identity_id=identity_id,
                         actor_id=actor_id, reason=reason[:200], data={**moved, "ticket_ids": tickets,
                                                                       "manual_tags": tags["new"]["manual"]}))
    return {"fan_id": new.id, "from_fan_id": old.id, "identity_id": identity_id, "moved": moved}


def set_crm_id(state: HubState, fan_id: int, crm_id: str | None, *, actor_id: int | None = None) -> Fan:
    """Attach (or with None, remove) the fan's id in an outside CRM; unique across fans."""
    if crm_id is not None:
        crm_id = crm_id.strip()
        if not crm_id or len(crm_id) > MAX_CRM_ID or not _CRM_ID.match(crm_id):
            raise IdentityError(f"a CRM id is 1 to {MAX_CRM_ID} printable ASCII characters without spaces")
    try:
        with session_scope(state.engine) as session:
            fan = resolve(session, fan_id)
            if fan is None:
                raise FanNotFound(f"no fan {fan_id}")
            if crm_id is not None:
                holder = find_by_crm_id(session, crm_id)
                if holder is not None and holder.id != fan.id:
                    raise FanConflict(f"the CRM id {crm_id!r} belongs to fan {holder.id} already (merge the two "
                                      "fans if they are one person)")
            old, fan.crm_id = fan.crm_id, crm_id
            session.add(fan)
            session.add(FanEvent(kind="crm_id", fan_id=fan.id, actor_id=actor_id, data={"old": old, "new": crm_id}))
            session.flush()
            session.expunge(fan)
    except IntegrityError as exc:  # set on another fan at this very moment
        raise FanConflict(f"the CRM id {crm_id!r} belongs to another fan already") from exc
    return fan


def settle_fan(session: Session, message: Message) -> Identity:
    """For the worker, before it acts on a message: the message's identity, locked until the worker's transaction
    ends against a merge or split (PostgreSQL: FOR KEY SHARE, which the webhook's own updates of the identity do not
    wait for; SQLite: the writer lock), and the message (with the replies recorded to that identity with it) on the
    identity's fan — a merge or split may have moved the identity after the webhook stored it."""
    if session.get_bind().dialect.name == "sqlite":  # reads are not isolated until the first write
        session.execute(update(Message).where(col(Message.id) == message.id).values(fan_id=Message.fan_id))
    identity = session.exec(select(Identity).where(Identity.id == message.identity_id)
                            .with_for_update(read=True, key_share=True)
                            .execution_options(populate_existing=True)).one()
    if identity.fan_id != message.fan_id:
        stale = message.fan_id
        session.execute(update(Message).where(col(Message.fan_id) == stale,
                                              col(Message.identity_id) == identity.id).values(fan_id=identity.fan_id))
        session.refresh(message)
        log.info("message moved to its identity's fan", extra={"message_id": message.id, "from_fan": stale,
                                                               "fan_id": identity.fan_id})
    return identity


def fan_summary(session: Session, fan: Fan) -> dict[str, Any]:
    """A fan as the API and console show it: identities with channel and account, counts."""
    rows = session.exec(select(Identity, Account).join(Account, col(Account.id) == Identity.account_id)
                        .where(Identity.fan_id == fan.id).order_by(col(Identity.id))).all()
    identities = [{"id": ident.id, "channel": account.channel, "account": account.key,
                   "account_name": account.name, "external_id": ident.external_id, "subscribed": ident.subscribed,
                   "unionid": ident.unionid, "last_inbound_at": ident.last_inbound_at,
                   "created_at": ident.created_at} for ident, account in rows]
    messages = session.scalar(select(func.count()).select_from(Message).where(Message.fan_id == fan.id)) or 0
    merged = session.exec(select(Fan.id).where(Fan.merged_into_id == fan.id).order_by(col(Fan.id))).all()
    return {"id": fan.id, "display_name": fan.display_name, "unionid": fan.unionid, "crm_id": fan.crm_id,
            "created_at": fan.created_at, "last_seen_at": fan.last_seen_at, "identities": identities,
            "messages": int(messages), "merged_fans": list(merged), **ticket_counts(session, fan.id),
            "tags": fan_tag_summary(session, fan.id)["tags"]}
