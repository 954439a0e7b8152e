"""Pushing a saved audience to a WeChat user tag, as an RQ job (`request_push`) with its progress in the job's meta
and its report kept in Redis.

It reuses the tag sync's client and rules (hub.tags.wechat_sync): at most 100 tags per account, 20 per fan, 50
openids per call, a refused batch retried one by one; what did not fit (the tag on a full account, fans who
carry 20 tags already) is in the report, and so is how many of the audience are not subscribed to the account.
"""

from __future__ import annotations

import json
import logging
from typing import Any

import redis
from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import select
from sqlmodel import Session, col

from channels.base import PermanentSendError
from hub.core.models import Account, Identity, utcnow
from hub.core.queue import enqueue, job_id_for
from hub.core.state import HubState, get_state
from hub.outbound import channel_for
from hub.tags import audience_query as aq
from hub.tags.models import SavedAudience, Tag
from hub.tags.wechat_sync import BATCH, MAX_TAGS_PER_ACCOUNT, RESERVED_TAG_IDS, SYNCED_KINDS, apply_in_batches

log = logging.getLogger("hub.audiences")
MAX_WECHAT_TAG = 30


class PushRefused(ValueError):
    """The push cannot start (the message says why)."""


def _saved(state: HubState, audience_id: int) -> SavedAudience | None:
    with Session(state.engine, expire_on_commit=False) as session:
        return session.get(SavedAudience, audience_id)


def push_key(audience_id: int) -> str:
    return f"hub:audiences:push:{audience_id}"


def check_push(state: HubState, audience_id: int, tag_name: str, account_key: str | None) -> list[int]:
    """The WeChat accounts to push to; PushRefused when the tag name or account will not do."""
    tag_name = tag_name.strip()
    if not tag_name or len(tag_name) > MAX_WECHAT_TAG:
        raise PushRefused(f"a WeChat tag's name has 1 to {MAX_WECHAT_TAG} characters")
    with Session(state.engine) as session:
        if session.get(SavedAudience, audience_id) is None:
            raise LookupError(f"no saved audience {audience_id}")
        synced = session.scalar(select(Tag.id).where(Tag.name == tag_name, col(Tag.kind).in_(SYNCED_KINDS),
                                                     col(Tag.deleted_at).is_(None)))
        if synced is not None:
            raise PushRefused(f"{tag_name!r} is a hub tag that `hub tags sync` keeps in step: choose another name")
        query = select(Account.id).where(Account.channel == "wechat").order_by(col(Account.id))
        if account_key:
            query = query.where(Account.key == account_key)
        accounts = list(session.scalars(query).all())
    if not accounts:
        raise PushRefused(f"no WeChat account {account_key!r}" if account_key else "there is no WeChat account")
    return accounts


def request_push(state: HubState, audience_id: int, tag_name: str, account_key: str | None = None) -> str:
    """Queue the push (after checking what can be checked now); the job's id."""
    accounts = check_push(state, audience_id, tag_name, account_key)
    # Job ids take letters, digits, "_" and "-": the tag's name travels hex-encoded.
    args = (audience_id, tag_name.strip().encode().hex(), "_".join(str(a) for a in accounts))
    if not enqueue(state.queue, push_audience_job, *args, timeout=3600, replace_dead=True):
        raise PushRefused("the job queue (Redis) is unreachable: try again in a moment")
    return job_id_for(push_audience_job, *args)


def push_audience_job(audience_id: int, tag_hex: str, account_ids: str) -> dict[str, Any]:
    """RQ job: tag every subscribed fan of the audience with `tag_name` on each account; the report."""
    state = get_state()
    job = get_current_job()

    def progress(done: int, total: int) -> None:
        if job is not None:
            job.meta["progress"] = {"done": done, "total": total}
            job.save_meta()

    tag_name = bytes.fromhex(tag_hex).decode()
    report = push_audience(state, audience_id, tag_name, [int(a) for a in account_ids.split("_") if a], progress)
    try:
        state.redis.set(push_key(audience_id), json.dumps(report, ensure_ascii=False))
    except redis.RedisError:
        log.warning("the push report was not kept (Redis unavailable)", extra={"audience": audience_id})
    return report


def push_audience(state: HubState, audience_id: int, tag_name: str, account_ids: list[int],
                  progress: Any = None) -> dict[str, Any]:
    row = _saved(state, audience_id)
    if row is None:
        return {"audience": audience_id, "skipped": "the audience was deleted"}
    report: dict[str, Any] = {"audience": audience_id, "tag": tag_name, "accounts": [], "tagged": 0,
                              "not_on_account": 0, "not_synced": [], "started_at": utcnow().isoformat()}
    with Session(state.engine) as session:
        audience = aq.compile_expression(session, row.expression, state.config.timezone)
        total = aq.count(session, audience)
        targets = [(account, list(session.scalars(
            select(Identity.external_id).where(Identity.account_id == account.id, col(Identity.subscribed).is_(True),
                                               col(Identity.fan_id).in_(select(audience.c.fan_id)))
            .order_by(col(Identity.external_id))).all())) for account in
            session.scalars(select(Account).where(col(Account.id).in_(account_ids)).order_by(col(Account.id))).all()]
    done = 0
    for account, openids in targets:
        report["not_on_account"] += total - len(openids)
        channel = channel_for(state, account)
        remote = {str(t["name"]): int(t["id"]) for t in channel.list_tags()}
        entry: dict[str, Any] = {"account": account.key, "fans": len(openids), "created": False}
        report["accounts"].append(entry)
        if tag_name in remote:
            wechat_id = remote[tag_name]
        elif len([i for i in remote.values() if i not in RESERVED_TAG_IDS]) >= MAX_TAGS_PER_ACCOUNT:
            entry["refused"] = (f"the account has WeChat's maximum of {MAX_TAGS_PER_ACCOUNT} tags: "
                                "delete one in WeChat first")
            report["not_synced"].append({"account": account.key, "fans": len(openids), "reason": entry["refused"]})
            continue
        else:
            try:
                wechat_id = channel.create_tag(tag_name)
            except PermanentSendError as exc:  # e.g. the limit reached by a tag created meanwhile
                entry["refused"] = f"WeChat refused to create the tag: {exc.message}"
                report["not_synced"].append({"account": account.key, "fans": len(openids), "reason": entry["refused"]})
                continue
            entry["created"] = True
        entry["wechat_tag_id"] = wechat_id
        for start in range(0, len(openids), BATCH * 20):
            part = openids[start:start + BATCH * 20]
            report["tagged"] += apply_in_batches(channel.tag_users, wechat_id, tag_name, part, report)
            done += len(part)
            if progress is not None:
                progress(done, sum(len(o) for _a, o in targets))
    report["finished_at"] = utcnow().isoformat()
    if report["not_synced"]:
        log.warning("an audience push left fans out", extra={"audience": audience_id,
                                                              "not_synced": report["not_synced"][:20]})
    return report


def push_status(state: HubState, audience_id: int, job_id: str | None = None) -> dict[str, Any]:
    """The running push's progress (when job_id is given and known) and the last finished push's report."""
    out: dict[str, Any] = {"job": None, "report": None}
    if job_id and job_id.startswith(push_audience_job.__name__ + "-"):
        try:
            job = Job.fetch(job_id, connection=state.redis)
            status = job.get_status(refresh=False)
            out["job"] = {"id": job_id, "status": str(getattr(status, "value", status)),
                          "progress": job.get_meta(refresh=True).get("progress")}
        except NoSuchJobError:
            pass
    try:
        stored = state.redis.get(push_key(audience_id))
    except redis.RedisError:
        stored = None
    out["report"] = json.loads(stored) if stored else None
    return out
