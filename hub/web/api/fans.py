"""API for fans as people: one fan with its identities (channel, account) and counts, finding fans (by CRM id, or
by name, openid or CRM id), attaching a CRM id, merging two fans, splitting an identity off, and the log of
those changes. Operators (and admins) write; agents read. A merged fan's id keeps working: it answers with the
fan it was merged into (`resolved_from` says so)."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask_login import current_user
from pydantic import BaseModel, Field
from sqlalchemy import or_
from sqlmodel import Session, col, select

from hub.conversation import (
    IdentityError,
    fan_summary,
    find_by_crm_id,
    merge_fans,
    resolve,
    set_crm_id,
    split_identity,
)
from hub.core.models import Fan, FanEvent, Identity
from hub.web.api.base import Body, ErrorOut, Response, bp, endpoint, error, state

READ = ("agent", "operator")
WRITE = ("operator",)
SEARCH_LIMIT = 50


class FanIdentityOut(BaseModel):
    id: int
    channel: str
    account: str = Field(description="the account's key")
    account_name: str
    external_id: str = Field(description="the openid, WeCom user id or forum user")
    subscribed: bool
    unionid: str | None
    last_inbound_at: str | None
    created_at: str


class FanOut(BaseModel):
    id: int
    display_name: str
    unionid: str | None
    crm_id: str | None
    created_at: str
    last_seen_at: str
    identities: list[FanIdentityOut]
    messages: int
    tickets: int
    tickets_active: int
    tags: list[str] = Field(description="active tags (automatic and manual)")
    merged_fans: list[int] = Field(description="fans merged into this one (their ids resolve here)")
    resolved_from: int | None = Field(default=None, description="the merged fan's id that was asked for")


class FanListQuery(BaseModel):
    crm_id: str | None = Field(default=None, max_length=128, description="exactly this CRM id")
    q: str | None = Field(default=None, max_length=128, description="part of a display name, openid or CRM id")


class FanCrmIn(Body):
    crm_id: str | None = Field(description="the fan's id in the outside CRM; null removes it")


class FanMergeIn(Body):
    other: int = Field(description="the fan merged into this one (it stays as a pointer to this one)")
    display_name: str | None = Field(default=None, description="which of the two names to keep, when they differ")
    reason: str = Field(default="", max_length=200)


class FanMovedOut(BaseModel):
    identities: int = 0
    messages: int
    tickets: int
    tickets_merged: int = 0


class FanMergeOut(BaseModel):
    fan: FanOut
    merged: int
    moved: FanMovedOut


class FanSplitIn(Body):
    reason: str = Field(default="", max_length=200)


class FanSplitOut(BaseModel):
    fan: FanOut = Field(description="the new fan, with the identity")
    from_fan: FanOut
    moved: FanMovedOut


class FanEventOut(BaseModel):
    id: int
    kind: str
    fan_id: int
    other_fan_id: int | None
    identity_id: int | None
    actor_id: int | None
    reason: str
    data: dict[str, Any]
    created_at: str


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _fan_out(session: Session, fan: Fan, asked: int | None = None) -> dict[str, Any]:
    view = fan_summary(session, fan)
    view["identities"] = [{**i, "last_inbound_at": _iso(i["last_inbound_at"]), "created_at": _iso(i["created_at"])}
                          for i in view["identities"]]
    view.update(created_at=_iso(view["created_at"]), last_seen_at=_iso(view["last_seen_at"]),
                resolved_from=asked if asked is not None and asked != fan.id else None)
    return view


def _refused(exc: IdentityError) -> tuple[Any, int]:
    return error(exc.status, exc.message)


@bp.get("/fans")
@endpoint(*READ, query=FanListQuery, resp=Response(HTTP_200=list[FanOut]), tags=["fans"])
def find_fans(query: FanListQuery) -> Any:
    """Fans by CRM id (exact), or by part of a display name, openid or CRM id (at most 50)"""
    with Session(state().engine) as session:
        if query.crm_id is not None:
            found = find_by_crm_id(session, query.crm_id)
            fans = [found] if found is not None else []
        else:
            statement = select(Fan).where(col(Fan.merged_into_id).is_(None))
            if query.q:
                like = f"%{query.q}%"
                by_openid = select(Identity.fan_id).where(col(Identity.external_id).like(like))
                statement = statement.where(or_(col(Fan.display_name).like(like), col(Fan.crm_id).like(like),
                                                col(Fan.id).in_(by_openid)))
            fans = list(session.exec(statement.order_by(col(Fan.last_seen_at).desc()).limit(SEARCH_LIMIT)).all())
        return jsonify([_fan_out(session, fan) for fan in fans])


@bp.get("/fans/<int:fan_id>")
@endpoint(*READ, resp=Response(HTTP_200=FanOut, HTTP_404=ErrorOut), tags=["fans"])
def get_fan(fan_id: int) -> Any:
    """One fan: identities with channel and account, message and ticket counts, tags"""
    with Session(state().engine) as session:
        fan = resolve(session, fan_id)
        if fan is None:
            return error(404, f"no fan {fan_id}")
        return jsonify(_fan_out(session, fan, fan_id))


@bp.put("/fans/<int:fan_id>/crm_id")
@endpoint(*WRITE, json=FanCrmIn, resp=Response(HTTP_200=FanOut, HTTP_404=ErrorOut, HTTP_409=ErrorOut),
          tags=["fans"])
def put_crm_id(fan_id: int, json: FanCrmIn) -> Any:
    """Attach the fan's id in an outside CRM (unique across fans), or remove it with null"""
    try:
        fan = set_crm_id(state(), fan_id, json.crm_id, actor_id=current_user.id)
    except IdentityError as exc:
        return _refused(exc)
    with Session(state().engine) as session:
        return jsonify(_fan_out(session, session.get(Fan, fan.id)))


@bp.post("/fans/<int:fan_id>/merge")
@endpoint(*WRITE, json=FanMergeIn, resp=Response(HTTP_200=FanMergeOut, HTTP_404=ErrorOut, HTTP_409=ErrorOut),
          tags=["fans"])
def merge(fan_id: int, json: FanMergeIn) -> Any:
    """Merge the other fan into this one: identities, messages, tickets, tags, profile and CSAT move; a conflict
    (different unionids or CRM ids, two display names without a choice) is refused with the reason"""
    try:
        result = merge_fans(state(), fan_id, json.other, actor_id=current_user.id, reason=json.reason,
                            display_name=json.display_name)
    except IdentityError as exc:
        return _refused(exc)
    with Session(state().engine) as session:
        kept = session.get(Fan, result["fan_id"])
        return jsonify(fan=_fan_out(session, kept), merged=result["merged"], moved=result["moved"])


@bp.post("/fans/<int:fan_id>/identities/<int:identity_id>/split")
@endpoint(*WRITE, json=FanSplitIn, resp=Response(HTTP_200=FanSplitOut, HTTP_404=ErrorOut, HTTP_409=ErrorOut),
          tags=["fans"])
def split(fan_id: int, identity_id: int, json: FanSplitIn) -> Any:
    """Split an identity off the fan: a new fan gets it with its messages and the tickets of its account"""
    with Session(state().engine) as session:
        fan = resolve(session, fan_id)
        identity = session.get(Identity, identity_id)
        if fan is None:
            return error(404, f"no fan {fan_id}")
        if identity is None or identity.fan_id != fan.id:
            return error(404, f"fan {fan_id} has no identity {identity_id}")
    try:
        result = split_identity(state(), identity_id, actor_id=current_user.id, reason=json.reason)
    except IdentityError as exc:
        return _refused(exc)
    with Session(state().engine) as session:
        return jsonify(fan=_fan_out(session, session.get(Fan, result["fan_id"])),
                       from_fan=_fan_out(session, session.get(Fan, result["from_fan_id"])), moved=result["moved"])


@bp.get("/fans/<int:fan_id>/identity-events")
@endpoint(*READ, resp=Response(HTTP_200=list[FanEventOut], HTTP_404=ErrorOut), tags=["fans"])
def identity_events(fan_id: int) -> Any:
    """Who merged, split or gave a CRM id to this fan, and when (newest first)"""
    with Session(state().engine) as session:
        fan = resolve(session, fan_id)
        if fan is None:
            return error(404, f"no fan {fan_id}")
        rows = session.exec(select(FanEvent).where(or_(FanEvent.fan_id == fan.id, FanEvent.other_fan_id == fan.id))
                            .order_by(col(FanEvent.id).desc()).limit(200)).all()
        return jsonify([{**row.model_dump(), "data": row.data or {}, "created_at": _iso(row.created_at)}
                        for row in rows])
