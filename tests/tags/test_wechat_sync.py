"""Syncing hub tags to WeChat user tags against the WeChat API emulation: batches of 50, 20 tags per fan,
100 tags per account, incremental pushes, deletions, and a transient failure retried by RQ."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from rq.job import Job
from sqlmodel import Session, select

from hub.core.db import session_scope
from hub.core.models import Account, Fan, Identity
from hub.tags.models import WeChatTagLink
from hub.tags.profiles import set_manual_tag
from hub.tags.taxonomy import create_tag, delete_tag
from hub.tags.wechat_sync import request_sync, sync_account
from tests.support.wechat_setup import wire_account


@pytest.fixture
def brand(state: Any, live_hub: Any, sandbox: Any) -> Any:
    return wire_account(state, live_hub.url, sandbox.url)


def _fans(state: Any, sandbox: Any, brand: Any, count: int) -> tuple[int, list[int]]:
    """`count` fans known to the hub and to the emulated WeChat account; (account id, fan ids)."""
    fan_ids = []
    with session_scope(state.engine) as session:
        account = session.exec(select(Account).where(Account.key == brand.key)).one()
        for i in range(count):
            fan = Fan(display_name=f"fan {i}")
            session.add(fan)
            session.flush()
            session.add(Identity(fan_id=fan.id, account_id=account.id, external_id=f"openid-{i:03d}"))
            sandbox.state.add_fan(brand.app_id, f"openid-{i:03d}")
            fan_ids.append(fan.id)
        return account.id, fan_ids


def _remote(sandbox: Any, brand: Any) -> tuple[dict[str, int], dict[str, set[str]]]:
    names = {t["id"]: t["name"] for t in sandbox.state.tags(brand.app_id, "list")}
    per_fan = {f["openid"]: {names[i] for i in f["tags"]} for f in sandbox.state.fans(brand.app_id)}
    return {n: i for i, n in names.items()}, per_fan


def _calls(sandbox: Any, endpoint: str) -> int:
    return sandbox.state.stats()["calls"].get(endpoint, 0)


def test_sync_respects_wechat_limits_and_pushes_only_changes(state: Any, sandbox: Any, brand: Any) -> None:
    account_id, fans = _fans(state, sandbox, brand, 60)
    extra = [f"M{i:02d}" for i in range(1, 23)]
    with session_scope(state.engine) as session:
        create_tag(session, "美妆", "interest", keywords=["口红"])
        create_tag(session, "VIP", "manual")
        create_tag(session, "已购", "system")  # system tags stay in the hub
        for name in extra:
            create_tag(session, name, "manual")
    with session_scope(state.engine) as session:
        for fan_id in fans:
            set_manual_tag(session, fan_id, "美妆", True)
        for name in extra:  # the first fan gets 23 tags: WeChat takes 20
            set_manual_tag(session, fans[0], name, True)
    report = sync_account(state, account_id)
    tags, per_fan = _remote(sandbox, brand)
    assert set(report["created"]) == {"美妆", "VIP", *extra} and "已购" not in tags
    assert _calls(sandbox, "tags/members/batchtagging") == 2 + 19  # 60 fans in batches of 50, then one each
    assert per_fan["openid-000"] == {"美妆", *extra[:19]}
    assert all(per_fan[f"openid-{i:03d}"] == {"美妆"} for i in range(1, 60))
    assert {(i["tag"], i["openid"]) for i in report["not_synced"]} == {(n, "openid-000") for n in extra[19:]}
    with Session(state.engine) as session:
        links = session.exec(select(WeChatTagLink).where(WeChatTagLink.account_id == account_id)).all()
    assert {link.wechat_tag_id for link in links} == {tags[n] for n in ("美妆", "VIP", *extra)}

    with session_scope(state.engine) as session:
        set_manual_tag(session, fans[5], "美妆", False)
        delete_tag(session, "VIP")
    report = sync_account(state, account_id)
    tags, per_fan = _remote(sandbox, brand)
    assert report["untagged"] == 1 and report["tagged"] == 0 and report["deleted"] == ["VIP"]
    assert per_fan["openid-005"] == set() and "VIP" not in tags
    assert _calls(sandbox, "tags/members/batchtagging") == 21  # only the change was pushed

    for i in range(100 - len(tags) + 1):  # somebody filled the account up to WeChat's 100 tags
        sandbox.state.tags(brand.app_id, "create", f"old-{i}")
    with session_scope(state.engine) as session:
        create_tag(session, "新品", "manual")
    report = sync_account(state, account_id)
    assert report["not_synced"][0]["tag"] == "新品" and "maximum of 100 tags" in report["not_synced"][0]["reason"]


def test_a_transient_failure_is_retried_by_the_job(state: Any, sandbox: Any, brand: Any, worker: Any) -> None:
    _account_id, fans = _fans(state, sandbox, brand, 3)
    with session_scope(state.engine) as session:
        create_tag(session, "数码", "interest")
        for fan_id in fans:
            set_manual_tag(session, fan_id, "数码", True)
    brand.fault("tags/create", count=1, errcode=-1, errmsg="system busy")
    state.config = replace(state.config, tag_sync_retry_seconds="0,0")
    queued = request_sync(state)
    worker()
    job = Job.fetch(f"sync_wechat_tags-{queued[0]}", connection=state.redis)
    assert job.get_status() == "finished" and job.return_value()["created"] == ["数码"]
    assert sandbox.state.stats()["faults_pending"] == [] and _calls(sandbox, "tags/create") == 2
    _tags, per_fan = _remote(sandbox, brand)
    assert all(per_fan[f"openid-{i:03d}"] == {"数码"} for i in range(3))
