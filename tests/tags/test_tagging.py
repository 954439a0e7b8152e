"""Interest tagging and intent through the hub: taxonomy, cold start on WeChat, the incremental profile,
manual tags, deleted tags, media without text, intent on messages and tickets, and retagging."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, select

from bots.intent_handoff import COMPLAINT_TEXT
from hub.core.db import session_scope
from hub.core.models import Message
from hub.tags.models import Example, FanTag, Tag
from hub.tags.profiles import set_manual_tag
from hub.tags.taxonomy import TagError, TagNotFound, add_example, create_tag, delete_tag, update_tag
from hub.tickets.models import Ticket
from tests.support.wechat_setup import wire_account
from tests.tags.helpers import (
    BEAUTY,
    TECH,
    active_tags,
    cli_runner,
    define_tags,
    fan_tags,
    inbound,
    profile_row,
    train_intents,
)


@pytest.fixture
def run_cli(hub_config: dict[str, Any], app: Any) -> Any:
    return cli_runner(hub_config)


@pytest.fixture
def brand(state: Any, live_hub: Any, sandbox: Any) -> Any:
    return wire_account(state, live_hub.url, sandbox.url)


def test_taxonomy_crud_and_clear_errors(state: Any) -> None:
    with session_scope(state.engine) as session:
        tag = create_tag(session, " 美妆 ", "interest", "cosmetics", ["口红", "口红", " 粉底 ", ""])
        assert (tag.name, tag.seed_keywords) == ("美妆", ["口红", "粉底"])
        first_id = tag.id
        create_tag(session, "VIP", "manual")
        create_tag(session, "已购", "system")
    bad = [
        (("美妆",), "exists already"),
        (("x" * 31,), "at most 30 characters"),
        (("",), "must not be empty"),
        (("none",), "reserved"),
        (("旅行", "hobby"), "kind is one of"),
        (("黑卡", "manual", "", ["卡"]), "only apply to interest tags"),
    ]
    for args, message in bad:
        with session_scope(state.engine) as session, pytest.raises(TagError, match=message):
            create_tag(session, *args)
    with session_scope(state.engine) as session:
        assert update_tag(session, "美妆", keywords=["眼影"]).seed_keywords == ["眼影"]
        delete_tag(session, "美妆")
    with session_scope(state.engine) as session, pytest.raises(TagNotFound):
        delete_tag(session, "美妆")
    with session_scope(state.engine) as session:  # a deleted name comes back as the same tag
        assert create_tag(session, "美妆", keywords=["口红"]).id == first_id
    with session_scope(state.engine) as session:
        with pytest.raises(TagError, match="not an interest tag"):
            add_example(session, "interest", "今天天气好", "VIP")
        with pytest.raises(TagError, match="needs some text"):
            add_example(session, "interest", "  ", "美妆")
        add_example(session, "interest", "今天天气好", "none")
        add_example(session, "intent", "能便宜点吗", "purchase")
        add_example(session, "intent", "能便宜点吗", "question")  # a correction replaces the intent
        add_example(session, "intent", "能便宜点吗", "question")  # the same example twice is one
    with Session(state.engine) as session:
        rows = session.exec(select(Example.kind, Example.text, Example.label).order_by(Example.id)).all()
    assert rows == [("interest", "今天天气好", "none"), ("intent", "能便宜点吗", "question")]


def test_cold_start_from_seed_keywords_tags_a_fan_on_wechat(state: Any, brand: Any, worker: Any, run_cli: Any) -> None:
    define_tags(state, {"美妆": BEAUTY, "数码": TECH})
    brand.say("fan-1", text="这支口红配什么粉底好看")
    worker()
    first = inbound(state)[0]
    assert first.meta["interests"][0]["tag"] == "美妆" and first.meta["interests"][0]["p"] >= 0.6
    assert "数码" not in {i["tag"] for i in first.meta["interests"]}
    assert active_tags(state, first.fan_id) == set()  # one message is not enough evidence yet
    brand.say("fan-1", text="想买口红和眼影，有推荐吗")
    worker()
    second = inbound(state)[1]
    assert fan_tags(state, first.fan_id)["美妆"] == (True, "auto", [second.id, first.id])
    row = profile_row(state, first.fan_id)
    assert row.last_message_id == second.id and row.model_version

    # What an operator sees of that fan, by openid or by fan id.
    shown = run_cli("fans", "show", "fan-1")
    assert shown.exit_code == 0, shown.output
    assert "美妆" in shown.output and "auto" in shown.output and "想买口红和眼影" in shown.output
    view = json.loads(run_cli("fans", "show", str(first.fan_id), "--json").output)
    assert view["identities"][0]["openid"] == "fan-1" and view["model_version"] == row.model_version
    assert [(t["tag"], t["source"], [e["message_id"] for e in t["evidence"]]) for t in view["tags"]] == [
        ("美妆", "auto", [second.id, first.id])]
    missing = run_cli("fans", "show", "nobody")
    assert missing.exit_code != 0 and "no fan 'nobody'" in missing.output


def test_profile_is_incremental_and_idempotent(state: Any, brand: Any, worker: Any) -> None:
    from hub.conversation.jobs import process_message

    define_tags(state, {"美妆": BEAUTY, "数码": TECH})
    for text in ("口红和粉底哪个先用", "耳机和充电器坏了", "眼影和面膜有货吗"):
        brand.say("fan-2", text=text)
    worker()
    messages = inbound(state)
    before, tags_before = profile_row(state, messages[0].fan_id).data, fan_tags(state, messages[0].fan_id)
    assert before["messages"] == 3
    with session_scope(state.engine) as session:  # as if every job ran a second time
        session.execute(update(Message).where(Message.direction == "in").values(status="received"))
    for message in messages:
        assert process_message(message.id) == "processed"
    assert profile_row(state, messages[0].fan_id).data == before
    assert fan_tags(state, messages[0].fan_id) == tags_before


def test_manual_tags_win_over_automatic(state: Any, brand: Any, worker: Any) -> None:
    define_tags(state, {"美妆": BEAUTY, "数码": TECH})
    for text in ("口红和粉底哪个好", "眼影和面膜有货吗"):
        brand.say("fan-3", text=text)
    worker()
    fan_id = inbound(state)[0].fan_id
    assert active_tags(state, fan_id) == {"美妆"}
    with session_scope(state.engine) as session:
        set_manual_tag(session, fan_id, "美妆", False)
        set_manual_tag(session, fan_id, "数码", True)
    brand.say("fan-3", text="口红眼影粉底都想要")  # strong evidence for the tag the operator removed
    worker()
    tags = fan_tags(state, fan_id)
    assert tags["美妆"][:2] == (False, "manual") and tags["数码"][:2] == (True, "manual")
    with session_scope(state.engine) as session:
        set_manual_tag(session, fan_id, "美妆", None)  # back to the classifier
        set_manual_tag(session, fan_id, "数码", None)
    assert active_tags(state, fan_id) == {"美妆"}


def test_a_deleted_tag_stops_appearing(state: Any, brand: Any, worker: Any) -> None:
    define_tags(state, {"美妆": BEAUTY, "数码": TECH})
    for text in ("手机和耳机哪个好", "平板和充电器有货吗"):
        brand.say("fan-4", text=text)
    worker()
    fan_id = inbound(state)[0].fan_id
    assert active_tags(state, fan_id) == {"数码"}
    with session_scope(state.engine) as session:
        delete_tag(session, "数码")  # the active model still predicts it
    assert active_tags(state, fan_id) == set()
    brand.say("fan-4", text="手机耳机平板都想换")
    worker()
    latest = inbound(state)[-1]
    assert all(i["tag"] != "数码" for i in latest.meta["interests"])
    assert active_tags(state, fan_id) == set()


def test_images_and_voice_without_recognition_change_nothing(state: Any, brand: Any, worker: Any) -> None:
    define_tags(state, {"美妆": BEAUTY})
    brand.say("fan-5", text="口红和粉底哪个好")
    worker()
    fan_id = inbound(state)[0].fan_id
    before = profile_row(state, fan_id)
    brand.say("fan-5", msg_type="image", fields={"PicUrl": "http://img.test/1.jpg", "MediaId": "m1"})
    brand.say("fan-5", msg_type="voice", fields={"MediaId": "m2", "Format": "amr"})
    worker()
    after = profile_row(state, fan_id)
    assert (after.data, after.last_message_id) == (before.data, before.last_message_id)
    assert all("interests" not in m.meta and "intent" not in m.meta for m in inbound(state)[1:])
    brand.say("fan-5", msg_type="voice", fields={"MediaId": "m3", "Format": "amr", "Recognition": "眼影和面膜"})
    worker()
    assert profile_row(state, fan_id).data["messages"] == 2  # recognised speech is text like any other


def test_intent_on_messages_and_tickets_and_asking_for_a_person(state: Any, brand: Any, worker: Any) -> None:
    train_intents(state)
    brand.say("fan-6", text="你们发的货是坏的，我要投诉")
    brand.say("fan-6", text="转人工")
    worker()
    complaint, human = inbound(state)
    assert complaint.meta["intent"] == "complaint" and human.meta["intent"] == "human"
    with Session(state.engine) as session:
        ticket = session.exec(select(Ticket)).one()
    # The complaint goes to a person (high priority); asking for one then only joins that ticket.
    assert ticket.reason == "the fan complained" and ticket.intent == "complaint" and ticket.priority == 3
    assert [m["text"]["content"] for m in brand.outbox("fan-6")] == [COMPLAINT_TEXT]


def test_retag_equals_incremental(state: Any, brand: Any, worker: Any, run_cli: Any) -> None:
    from hub.tags.retag import retag_all

    define_tags(state, {"美妆": BEAUTY, "数码": TECH})
    for openid, texts in {"fan-7": ["口红和粉底哪个好", "眼影有货吗", "今天天气不错"],
                          "fan-8": ["手机和耳机", "充电器坏了", "平板和手机"] * 4,
                          "fan-9": ["你好"]}.items():
        for text in texts:
            brand.say(openid, text=text)
    worker()
    fans = sorted({m.fan_id for m in inbound(state)})
    with session_scope(state.engine) as session:
        set_manual_tag(session, fans[2], "数码", True)
    incremental = {f: (profile_row(state, f).data, fan_tags(state, f)) for f in fans}
    with session_scope(state.engine) as session:  # a lost profile and a stray tag: retag rebuilds both
        profile = profile_row(state, fans[0])
        profile.data, profile.last_message_id = {}, 0
        session.add(profile)
        meiz = session.exec(select(Tag).where(Tag.name == "美妆")).one()
        session.add(FanTag(fan_id=fans[1], tag_id=meiz.id, source="auto", active=True, score=0.9))
    result = retag_all(state, fan_batch=2, chunk=5)  # several batches, and chunks within one fan
    assert result["fans"] == 3 and result["messages"] == 16
    for fan_id in fans:
        data, tags = incremental[fan_id]
        assert profile_row(state, fan_id).data == data
        assert {k: v for k, v in fan_tags(state, fan_id).items() if v[0]} == {k: v for k, v in tags.items() if v[0]}
    assert active_tags(state, fans[2]) == {"数码"}  # the manual tag survived
    cli = run_cli("tags", "retag")
    assert cli.exit_code == 0 and "3 fans, 16 messages" in cli.output
