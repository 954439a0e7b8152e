"""Merging tags (hub.tags.merge): profiles merge (evidence adds up, manual decisions carry over), and WeChat follows
at the next sync — the merged tag is deleted there and its fans get the target's user tag."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from hub.core.db import session_scope
from hub.core.models import Account, Fan, Identity
from hub.tags import merge_tags
from hub.tags.merge import merge_profile, merge_states
from hub.tags.profiles import set_manual_tag
from hub.tags.taxonomy import TagError, create_tag
from hub.tags.wechat_sync import sync_account
from knowledge import profile as prof
from tests.support.wechat_setup import wire_account


def test_merged_states_add_their_evidence_at_the_later_time() -> None:
    day = 86400.0
    a = prof.TagState(evidence=1.0, ts=0.0, active=True, top=((1.0, "1"),))
    b = prof.TagState(evidence=0.5, ts=30 * day, active=False, top=((2.0, "2"),))
    merged = merge_states(a, b)
    assert merged.ts == 30 * day and merged.active
    assert merged.evidence == pytest.approx(0.5 + 0.5)  # a has decayed one half-life
    assert merged.top == ((2.0, "2"), (1.0, "1"))
    profile = prof.Profile(tags={"彩妆": a, "美妆": b}, manual={"彩妆": True})
    out = merge_profile(profile, "彩妆", "美妆")
    assert set(out.tags) == {"美妆"} and out.manual == {"美妆": True}
    kept = merge_profile(prof.Profile(manual={"彩妆": True, "美妆": False}), "彩妆", "美妆")
    assert kept.manual == {"美妆": False}  # the fan's own decision about the target stands


def test_wechat_follows_a_merge_at_the_next_sync(state: Any, live_hub: Any, sandbox: Any) -> None:
    brand = wire_account(state, live_hub.url, sandbox.url)
    fans = []
    with session_scope(state.engine) as session:
        account_id = session.exec(select(Account.id).where(Account.key == brand.key)).one()
        for i in range(3):
            fan = Fan(display_name=f"fan {i}")
            session.add(fan)
            session.flush()
            session.add(Identity(fan_id=fan.id, account_id=account_id, external_id=f"openid-{i}"))
            sandbox.state.add_fan(brand.app_id, f"openid-{i}")
            fans.append(fan.id)
        create_tag(session, "VIP", "manual")
        create_tag(session, "贵宾", "manual")
        create_tag(session, "兴趣", "interest")
    with session_scope(state.engine) as session:
        set_manual_tag(session, fans[0], "VIP", True)
        set_manual_tag(session, fans[1], "VIP", True)
        set_manual_tag(session, fans[1], "贵宾", True)
        set_manual_tag(session, fans[2], "贵宾", True)
    sync_account(state, account_id)

    def remote() -> tuple[set[str], dict[str, set[str]]]:
        names = {t["id"]: t["name"] for t in sandbox.state.tags(brand.app_id, "list")}
        per_fan = {f["openid"]: {names[i] for i in f["tags"]} for f in sandbox.state.fans(brand.app_id)}
        return set(names.values()), per_fan

    assert remote()[1]["openid-0"] == {"VIP"}
    with session_scope(state.engine) as session:
        with pytest.raises(TagError, match="same kind"):
            merge_tags(session, "VIP", "兴趣")
        report = merge_tags(session, "VIP", "贵宾")
    assert report["fans"] == 2
    sync = sync_account(state, account_id)
    tags, per_fan = remote()
    assert sync["deleted"] == ["VIP"] and "VIP" not in tags
    assert per_fan == {"openid-0": {"贵宾"}, "openid-1": {"贵宾"}, "openid-2": {"贵宾"}}
