from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from .conftest import Sandbox


def errcode_of(call) -> int | None:  # type: ignore[no-untyped-def]
    with pytest.raises(WeChatClientException) as info:
        call()
    return info.value.errcode


def test_send_within_the_window_is_delivered_to_the_outbox(sandbox: Sandbox, app_a: WeChatClient) -> None:
    sandbox.state.record_interaction("wx_a", "o1", "text")
    assert app_a.message.send_text("o1", "你好", account="kf1@wx_a") == {"errcode": 0, "errmsg": "ok"}
    [msg] = requests.get(f"{sandbox.url}/sandbox/outbox", params={"appid": "wx_a"}, timeout=5).json()
    assert msg["touser"] == "o1"
    assert msg["msgtype"] == "text"
    assert msg["text_content"] == "你好"
    assert msg["kf_account"] == "kf1@wx_a"
    assert sandbox.state.stats()["sends"] == 1


def test_send_without_an_interaction_is_outside_the_window(sandbox: Sandbox, app_a: WeChatClient) -> None:
    sandbox.state.add_fan("wx_a", "o1")
    assert errcode_of(lambda: app_a.message.send_text("o1", "hi")) == 45015
    assert sandbox.state.outbox() == []


def test_window_closes_48_hours_after_the_last_interaction(sandbox: Sandbox, app_a: WeChatClient) -> None:
    state = sandbox.state
    state.record_interaction("wx_a", "o1", "text")
    state.advance(47 * 3600)
    app_a.message.send_text("o1", "still open")
    state.advance(3600)
    # wechatpy keeps its token by wall-clock time; the sandbox clock moved 48 h, so refresh it.
    app_a.fetch_access_token()
    assert errcode_of(lambda: app_a.message.send_text("o1", "too late")) == 45015
    state.record_interaction("wx_a", "o1", "CLICK", "MENU_HELP")
    app_a.message.send_text("o1", "open again after a menu click")
    assert [m["text_content"] for m in state.outbox()] == ["still open", "open again after a menu click"]


def test_sixth_message_is_over_quota_until_the_fan_writes_again(sandbox: Sandbox, app_a: WeChatClient) -> None:
    state = sandbox.state
    state.record_interaction("wx_a", "o1", "text")
    for i in range(5):
        app_a.message.send_text("o1", f"m{i}")
    assert errcode_of(lambda: app_a.message.send_text("o1", "m5")) == 45047
    assert state.stats()["send_errors"] == {"45047": 1}
    state.record_interaction("wx_a", "o1", "text")
    app_a.message.send_text("o1", "after the fan wrote again")
    assert len(state.outbox(openid="o1")) == 6


def test_events_that_do_not_open_the_window(sandbox: Sandbox, app_a: WeChatClient) -> None:
    state = sandbox.state
    state.record_interaction("wx_a", "o1", "VIEW", "https://example.com")
    assert errcode_of(lambda: app_a.message.send_text("o1", "hi")) == 45015
    state.record_interaction("wx_a", "o1", "subscribe", "qrscene_42")
    app_a.message.send_text("o1", "welcome")
    state.record_interaction("wx_a", "o1", "unsubscribe")
    assert errcode_of(lambda: app_a.message.send_text("o1", "bye")) == 45015


def test_unknown_openid_and_openid_of_another_account(sandbox: Sandbox, app_a: WeChatClient) -> None:
    sandbox.state.register_app("wx_b", "secret_b")
    sandbox.state.record_interaction("wx_b", "o_b", "text")
    assert errcode_of(lambda: app_a.message.send_text("o_nobody", "hi")) == 40003
    assert errcode_of(lambda: app_a.message.send_text("o_b", "hi")) == 40003


def test_malformed_send_requests(sandbox: Sandbox, app_a: WeChatClient) -> None:
    sandbox.state.record_interaction("wx_a", "o1", "text")
    url = f"{sandbox.url}/cgi-bin/message/custom/send"
    params = {"access_token": app_a.access_token}

    def post(data: bytes) -> int:
        return requests.post(url, params=params, data=data, timeout=5).json()["errcode"]

    assert post(b"") == 44002
    assert post(b"{not json") == 47001
    assert post(b'["a"]') == 47001
    assert post(b'{"touser": "o1", "msgtype": "telepathy", "telepathy": {}}') == 40008
    assert post(b'{"touser": "o1", "msgtype": "text", "text": {"content": ""}}') == 44004
    assert post(b'{"touser": "o1", "msgtype": "text", "text": "plain"}') == 47001
    # None of these consumed the quota.
    assert sandbox.state.fans("wx_a")[0]["quota_left"] == 5
    assert post(b'{"touser": "o1", "msgtype": "image", "image": {"media_id": "M1"}}') == 0


def test_user_info_has_no_nickname_or_headimgurl(sandbox: Sandbox, app_a: WeChatClient) -> None:
    state = sandbox.state
    state.record_interaction("wx_a", "o1", "subscribe", "qrscene_1001")
    info = app_a.user.get("o1")
    assert info["subscribe"] == 1
    assert info["openid"] == "o1"
    assert info["unionid"]
    assert info["subscribe_scene"] == "ADD_SCENE_QR_CODE"
    assert info["qr_scene"] == 1001
    assert "nickname" not in info and "headimgurl" not in info
    state.record_interaction("wx_a", "o1", "unsubscribe")
    assert app_a.user.get("o1") == {"subscribe": 0, "openid": "o1", "unionid": info["unionid"]}
    assert errcode_of(lambda: app_a.user.get("o_nobody")) == 40003


def test_accounts_without_unionid_and_the_follower_list(sandbox: Sandbox) -> None:
    sandbox.state.register_app("wx_c", "secret_c", with_unionid=False)
    for openid in ("o1", "o2", "o3"):
        sandbox.state.add_fan("wx_c", openid)
    sandbox.state.add_fan("wx_c", "o2", subscribe=False)
    client = sandbox.client("wx_c", "secret_c")
    assert "unionid" not in client.user.get("o1")
    assert client.user.get_followers() == {
        "total": 2,
        "count": 2,
        "data": {"openid": ["o1", "o3"]},
        "next_openid": "o3",
    }
    assert client.user.get_followers("o3") == {"total": 2, "count": 0, "next_openid": ""}


def test_concurrent_sends_never_exceed_the_quota(sandbox: Sandbox, app_a: WeChatClient) -> None:
    sandbox.state.record_interaction("wx_a", "o1", "text")
    access_token = app_a.access_token
    url = f"{sandbox.url}/cgi-bin/message/custom/send"
    body = {"touser": "o1", "msgtype": "text", "text": {"content": "race"}}

    def send(_: int) -> int:
        return requests.post(url, params={"access_token": access_token}, json=body, timeout=10).json()["errcode"]

    with ThreadPoolExecutor(max_workers=12) as pool:
        codes = list(pool.map(send, range(24)))
    assert sorted(codes) == [0] * 5 + [45047] * 19
    assert len(sandbox.state.outbox()) == 5
