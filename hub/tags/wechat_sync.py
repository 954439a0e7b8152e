"""Hub tags → the user tags of each WeChat Official Account, as an RQ job with retries.

Interest and manual tags become WeChat tags (created if missing, adopted if a tag of that name exists,
remembered in WeChatTagLink); tags deleted in the hub are deleted on WeChat. Fans (by openid) are
tagged and untagged to match their FanTag rows; after the first full push only the rows whose
membership changed since the tag's last sync are pushed. WeChat's limits are respected and what
could not be synced is reported: 100 tags per account, 20 tags per fan, 50 openids per call.
Transient API failures (busy, network) fail the job, which RQ retries; permanent ones are reported.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import func
from sqlmodel import Session, select

from channels.base import PermanentSendError, TransientSendError
from hub.core.db import session_scope
from hub.core.models import Account, Identity, utcnow
from hub.core.queue import enqueue
from hub.core.state import HubState, get_state
from hub.outbound import channel_for
from hub.tags.models import FanTag, Tag, WeChatTagLink

log = logging.getLogger("hub.tag_sync")
MAX_TAGS_PER_ACCOUNT = 100
MAX_TAGS_PER_FAN = 20
BATCH = 50
RESERVED_TAG_IDS = frozenset({0, 1, 2})  # WeChat's own (e.g. 2: 星标组)
SYNCED_KINDS = ("interest", "manual")
OVER_FAN_LIMIT = 45059


class SyncRetry(Exception):
    """A transient WeChat failure: RQ runs the job again after the next retry interval."""


def report_key(account_key: str) -> str:
    return f"hub:tags:sync:{account_key}"


def request_sync(state: HubState) -> list[int]:
    """Enqueue a sync job per WeChat account; the ids of the accounts queued."""
    intervals = state.config.tag_sync_retry_intervals
    with Session(state.engine) as session:
        ids = session.exec(select(Account.id).where(Account.channel == "wechat").order_by(Account.id)).all()
    return [i for i in ids if enqueue(state.queue, sync_wechat_tags, i, retry_intervals=intervals,
                                      timeout=1800, replace_dead=True)]


def sync_wechat_tags(account_id: int) -> dict[str, Any]:
    """RQ job: sync one account; a transient failure is raised for RQ to retry (done work is kept)."""
    try:
        return sync_account(get_state(), account_id)
    except TransientSendError as exc:
        raise SyncRetry(f"WeChat tag sync of account {account_id} hit a transient failure: {exc}") from exc


def sync_account(state: HubState, account_id: int, full: bool = False) -> dict[str, Any]:
    started = utcnow()
    with Session(state.engine) as session:
        account = session.get(Account, account_id)
        if account is None or account.channel != "wechat":
            return {"account": account_id, "skipped": "not a WeChat account"}
        tags = list(session.exec(select(Tag).where(Tag.kind.in_(SYNCED_KINDS))  # type: ignore[attr-defined]
                                 .order_by(Tag.id)).all())
        links = {link.tag_id: link for link in
                 session.exec(select(WeChatTagLink).where(WeChatTagLink.account_id == account_id)).all()}
    channel = channel_for(state, account)
    report: dict[str, Any] = {"account": account.key, "created": [], "adopted": [], "deleted": [],
                              "tagged": 0, "untagged": 0, "not_synced": []}
    remote = {str(t["name"]): int(t["id"]) for t in channel.list_tags()}
    live = {t.id for t in tags if t.deleted_at is None}
    for tag in tags:  # deleted in the hub: delete on WeChat too
        link = links.get(tag.id)
        if tag.id not in live and link is not None:
            if link.wechat_tag_id in remote.values():
                channel.delete_tag(link.wechat_tag_id)
                remote = {n: i for n, i in remote.items() if i != link.wechat_tag_id}
                report["deleted"].append(tag.name)
            _drop_link(state, link.id)
            links.pop(tag.id)
    used = len([i for i in remote.values() if i not in RESERVED_TAG_IDS])
    fresh: set[int] = set()
    for tag in (t for t in tags if t.id in live):
        link = links.get(tag.id)
        if link is not None and link.wechat_tag_id in remote.values():
            continue
        if tag.name in remote:
            wechat_id = remote[tag.name]
            report["adopted"].append(tag.name)
        elif used >= MAX_TAGS_PER_ACCOUNT:
            report["not_synced"].append({"tag": tag.name, "reason": "the account has WeChat's maximum of "
                                         f"{MAX_TAGS_PER_ACCOUNT} tags: delete some in WeChat or in the hub"})
            links.pop(tag.id, None)  # its WeChat tag is gone (if it ever existed): nothing to push
            continue
        else:
            wechat_id = channel.create_tag(tag.name)
            used += 1
            report["created"].append(tag.name)
        links[tag.id] = _save_link(state, account_id, tag.id, wechat_id)
        fresh.add(tag.id)
    allowed = _fan_allowance(state, account_id, set(links))
    names = {t.id: t.name for t in tags}
    for tag_id, link in sorted(links.items()):
        since = None if (full or tag_id in fresh) else link.synced_at
        _push(state, channel, account_id, link, names[tag_id], since, allowed, report)
        _touch_link(state, link.id, started)
    report["finished_at"] = utcnow().isoformat()
    _remember(state, account.key, report)
    if report["not_synced"]:
        log.warning("tags not synced to WeChat", extra={"account": account.key,
                                                        "not_synced": report["not_synced"][:20]})
    return report


def _fan_allowance(state: HubState, account_id: int, tag_ids: set[int]) -> dict[int, set[int]]:
    """For fans with more than 20 active synced tags: the 20 they keep on WeChat (manual first, then score)."""
    if not tag_ids:
        return {}
    with Session(state.engine) as session:
        crowded = session.exec(select(FanTag.fan_id).where(FanTag.active == True, FanTag.tag_id.in_(tag_ids))  # type: ignore[attr-defined]  # noqa: E712
                               .group_by(FanTag.fan_id).having(func.count() > MAX_TAGS_PER_FAN)).all()
        out: dict[int, set[int]] = {}
        for fan_id in crowded:
            rows = session.exec(select(FanTag).where(FanTag.fan_id == fan_id, FanTag.active == True,  # noqa: E712
                                                     FanTag.tag_id.in_(tag_ids))).all()  # type: ignore[attr-defined]
            ranked = sorted(rows, key=lambda r: (r.source != "manual", -r.score, r.tag_id))
            out[fan_id] = {r.tag_id for r in ranked[:MAX_TAGS_PER_FAN]}
    return out


def _push(state: HubState, channel: Any, account_id: int, link: WeChatTagLink, name: str,
          since: datetime | None, allowed: dict[int, set[int]], report: dict[str, Any]) -> None:
    with Session(state.engine) as session:
        query = (select(Identity.external_id, FanTag.fan_id, FanTag.active)
                 .join(Identity, Identity.fan_id == FanTag.fan_id)
                 .where(FanTag.tag_id == link.tag_id, Identity.account_id == account_id,
                        Identity.subscribed == True))  # noqa: E712
        if since is not None:
            query = query.where(FanTag.updated_at >= since)
        rows = session.exec(query.order_by(Identity.external_id)).all()
    add: list[str] = []
    remove: list[str] = []
    for openid, fan_id, active in rows:
        if active and (fan_id not in allowed or link.tag_id in allowed[fan_id]):
            add.append(openid)
        else:
            if active:
                report["not_synced"].append({"tag": name, "openid": openid,
                                             "reason": f"the fan has more than {MAX_TAGS_PER_FAN} tags"})
            remove.append(openid)
    report["tagged"] += apply_in_batches(channel.tag_users, link.wechat_tag_id, name, add, report)
    report["untagged"] += apply_in_batches(channel.untag_users, link.wechat_tag_id, name, remove, report)


def apply_in_batches(call: Any, wechat_id: int, name: str, openids: list[str], report: dict[str, Any]) -> int:
    """Tag (or untag) openids in WeChat's batches of 50, one by one where a batch is refused; how many took it.
    Also used by audience pushes (hub.tags.audience_push)."""
    done = 0
    for start in range(0, len(openids), BATCH):
        batch = openids[start:start + BATCH]
        try:
            call(wechat_id, batch)
            done += len(batch)
        except PermanentSendError as exc:
            if len(batch) == 1 or str(exc.code) != str(OVER_FAN_LIMIT):
                report["not_synced"].extend({"tag": name, "openid": o, "reason": exc.message} for o in batch)
                continue
            # WeChat refuses a whole batch if one fan has 20 tags already (set outside the hub): one by one.
            done += sum(apply_in_batches(call, wechat_id, name, [o], report) for o in batch)
    return done


def _save_link(state: HubState, account_id: int, tag_id: int, wechat_id: int) -> WeChatTagLink:
    with session_scope(state.engine) as session:
        link = session.exec(select(WeChatTagLink).where(WeChatTagLink.account_id == account_id,
                                                        WeChatTagLink.tag_id == tag_id)).first()
        link = link or WeChatTagLink(account_id=account_id, tag_id=tag_id, wechat_tag_id=wechat_id)
        link.wechat_tag_id = wechat_id
        session.add(link)
        session.flush()
        session.refresh(link)
        session.expunge(link)
        return link


def _touch_link(state: HubState, link_id: int | None, at: datetime) -> None:
    with session_scope(state.engine) as session:
        link = session.get(WeChatTagLink, link_id)
        if link is not None:
            link.synced_at = at
            session.add(link)


def _drop_link(state: HubState, link_id: int | None) -> None:
    with session_scope(state.engine) as session:
        link = session.get(WeChatTagLink, link_id)
        if link is not None:
            session.delete(link)


def _remember(state: HubState, account_key: str, report: dict[str, Any]) -> None:
    try:
        state.redis.set(report_key(account_key), json.dumps(report, ensure_ascii=False))
    except redis.RedisError:
        log.warning("the sync report was not kept (Redis unavailable)", extra={"account": account_key})
