from __future__ import annotations

import pytest
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from .conftest import Sandbox


def errcode_of(call) -> int | None:  # type: ignore[no-untyped-def]
    with pytest.raises(WeChatClientException) as info:
        call()
    return info.value.errcode


@pytest.fixture
def fans(sandbox: Sandbox, app_a: WeChatClient) -> list[str]:
    openids = [f"o{i}" for i in range(60)]
    for openid in openids:
        sandbox.state.add_fan("wx_a", openid)
    return openids


def test_create_get_update_delete(app_a: WeChatClient, fans: list[str]) -> None:
    tag = app_a.tag.create("广东")
    assert tag == {"id": 100, "name": "广东"}
    assert app_a.tag.get() == [{"id": 2, "name": "星标组", "count": 0}, {"id": 100, "name": "广东", "count": 0}]
    app_a.tag.tag_user(100, ["o1", "o2"])
    assert app_a.tag.get()[1]["count"] == 2
    assert app_a.tag.update(100, "广州") == {"errcode": 0, "errmsg": "ok"}
    assert app_a.tag.get()[1]["name"] == "广州"
    assert app_a.user.get("o1")["tagid_list"] == [100]
    app_a.tag.delete(100)
    assert app_a.tag.get() == [{"id": 2, "name": "星标组", "count": 0}]
    assert app_a.tag.get_user_tag("o1") == []


def test_tag_name_rules(app_a: WeChatClient, fans: list[str]) -> None:
    app_a.tag.create("vip")
    assert errcode_of(lambda: app_a.tag.create("vip")) == 45157
    assert errcode_of(lambda: app_a.tag.create("x" * 31)) == 45158
    assert app_a.tag.create("x" * 30)["name"] == "x" * 30
    assert errcode_of(lambda: app_a.tag.update(101, "vip")) == 45157
    assert errcode_of(lambda: app_a.tag.update(2, "mine")) == 45058
    assert errcode_of(lambda: app_a.tag.delete(2)) == 45058
    assert errcode_of(lambda: app_a.tag.delete(999)) == 45159


def test_at_most_100_tags_per_account(app_a: WeChatClient, fans: list[str]) -> None:
    for i in range(100):
        app_a.tag.create(f"t{i}")
    assert errcode_of(lambda: app_a.tag.create("one too many")) == 45056
    app_a.tag.delete(100)
    app_a.tag.create("room again")


def test_at_most_50_openids_per_batch(app_a: WeChatClient, fans: list[str]) -> None:
    tag_id = app_a.tag.create("vip")["id"]
    assert errcode_of(lambda: app_a.tag.tag_user(tag_id, fans[:51])) == 40032
    assert errcode_of(lambda: app_a.tag.tag_user(tag_id, [])) == 40032
    app_a.tag.tag_user(tag_id, fans[:50])
    assert errcode_of(lambda: app_a.tag.untag_user(tag_id, fans[:51])) == 40032
    app_a.tag.untag_user(tag_id, fans[:10])
    assert app_a.tag.get()[1]["count"] == 40


def test_at_most_20_tags_per_fan_and_the_batch_is_all_or_nothing(app_a: WeChatClient, fans: list[str]) -> None:
    ids = [app_a.tag.create(f"t{i}")["id"] for i in range(21)]
    for tag_id in ids[:20]:
        app_a.tag.tag_user(tag_id, "o1")
    assert errcode_of(lambda: app_a.tag.tag_user(ids[20], ["o2", "o1"])) == 45059
    assert app_a.tag.get_user_tag("o2") == []  # nothing applied
    app_a.tag.tag_user(ids[0], "o1")  # already tagged: no change, no error
    assert sorted(app_a.tag.get_user_tag("o1")) == ids[:20]


def test_invalid_tag_ids_and_openids(sandbox: Sandbox, app_a: WeChatClient, fans: list[str]) -> None:
    sandbox.state.register_app("wx_b", "secret_b")
    sandbox.state.add_fan("wx_b", "o_b")
    tag_id = app_a.tag.create("vip")["id"]
    assert errcode_of(lambda: app_a.tag.tag_user(12345, "o1")) == 45159
    assert errcode_of(lambda: app_a.tag.tag_user(tag_id, ["o1", "o_nobody"])) == 40003
    assert errcode_of(lambda: app_a.tag.tag_user(tag_id, ["o1", "o_b"])) == 49003
    assert errcode_of(lambda: app_a.tag.get_user_tag("o_b")) == 49003
    assert errcode_of(lambda: app_a.tag.get_user_tag("o_nobody")) == 40003
    assert app_a.tag.get_user_tag("o1") == []


def test_users_of_a_tag_pages_like_the_real_api(app_a: WeChatClient, fans: list[str]) -> None:
    tag_id = app_a.tag.create("vip")["id"]
    app_a.tag.tag_user(tag_id, fans[:2])
    assert app_a.tag.get_tag_users(tag_id) == {"count": 2, "data": {"openid": ["o0", "o1"]}, "next_openid": "o1"}
    assert app_a.tag.get_tag_users(tag_id, "o1") == {"count": 0, "next_openid": ""}
    assert list(app_a.tag.iter_tag_users(tag_id)) == ["o0", "o1"]
    assert errcode_of(lambda: app_a.tag.get_tag_users(999)) == 45159
