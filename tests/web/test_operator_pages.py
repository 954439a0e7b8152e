"""The operator's pages (issue 21, items 1, 3, 4 and 5): tags (list with fans and trend, create, edit, merge,
delete, the messages that earned a tag), labelling (the least certain first, confirm or correct, train now with
the figures and the gate's verdict), auto-reply rules (per account, regex errors as form errors, "which rule
answers this?") and the knowledge base (entries, import errors with their line, export, proposals, "try a
question") — through the forms as a browser posts them, with the CSRF token; fan text rendered escaped; and
roles: an agent gets 403 on every operator page and form."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from sqlmodel import Session, select
from werkzeug.security import generate_password_hash

from hub.conversation.models import Rule
from hub.core.db import session_scope
from hub.core.models import Message, User
from hub.kb.models import KbEntry, KbProposal
from hub.reports import refresh
from hub.tags.models import Example, FanTag, Tag
from hub.tags.profiles import set_manual_tag
from hub.tags.tagging import _update_profile
from tests.support.tickets_setup import fan_message, make_account, make_agent
from tests.tags.helpers import define_tags, fan_tags

PASSWORD = "correct-horse"
TOKEN = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
EVIL = "<script>alert('fan')</script><b>bold</b>"
ESCAPED = "&lt;script&gt;alert(&#39;fan&#39;)&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt;"
VARIABLE = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # about HTTP, not the database
MINE = ("operator.tag", "operator.create_tag", "operator.edit_tag", "operator.merge_tag", "operator.delete_tag",
        "operator.label", "operator.train", "operator.training", "operator.rule", "operator.create_rule",
        "operator.edit_rule", "operator.toggle", "operator.delete_rule", "operator.test_rules", "operator.kb",
        "operator.create_entry", "operator.edit_entry", "operator.accept_kb", "operator.import_kb",
        "operator.export_kb")


@pytest.fixture
def people(state: Any) -> None:
    with session_scope(state.engine) as session:
        for email, role in (("admin@x.test", "admin"), ("op@x.test", "operator")):
            session.add(User(email=email, role=role, password_hash=generate_password_hash(PASSWORD)))
    make_agent(state, "agent@x.test", status="offline")
    with session_scope(state.engine) as session:
        agent = session.exec(select(User).where(User.email == "agent@x.test")).one()
        agent.password_hash = generate_password_hash(PASSWORD)


def login(app: Any, email: str = "op@x.test") -> Any:
    client = app.test_client()
    token = TOKEN.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302
    return client


def post(client: Any, page: str, action: str, data: dict[str, Any], **kw: Any) -> Any:
    """Submit a form of `page` as a browser does: the CSRF token from the page, then the fields."""
    token = TOKEN.search(client.get(page).get_data(as_text=True)).group(1)
    return client.post(action, data={"csrf_token": token, **data}, **kw)


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def _operator_urls(app: Any) -> list[tuple[str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(MINE):
            continue
        values = {name: 1 if converter == "int" else "x" for converter, name in VARIABLE.findall(rule.rule)}
        url = rule.build(values, append_unknown=False)[1]
        for method in sorted((rule.methods or set()) & {"GET", "POST"}):
            out.append((method, url))
    return out


def test_an_agent_gets_403_on_every_operator_page_and_form(app: Any, people: None) -> None:
    urls = _operator_urls(app)
    assert len(urls) >= 20 and ("GET", "/operator/tags") in urls
    anonymous = app.test_client()
    anonymous_token = TOKEN.search(text(anonymous.get("/login"))).group(1)
    for method, url in urls:
        response = anonymous.open(url, method=method, data={"csrf_token": anonymous_token})
        assert response.status_code == 302 and response.headers["Location"].startswith("/login"), (method, url)
    agent = login(app, "agent@x.test")
    token = TOKEN.search(text(agent.get("/overview"))).group(1)
    for method, url in urls:
        response = agent.open(url, method=method, data={"csrf_token": token})
        assert response.status_code == 403, (method, url, response.status_code)
    assert "这些页面仅供社群运营和管理员使用。" in text(agent.get("/operator/kb"))
    for email in ("op@x.test", "admin@x.test"):
        client = login(app, email)
        for page in ("/operator/tags", "/operator/labelling", "/operator/rules", "/operator/kb"):
            assert client.get(page).status_code == 200, (email, page)
        nav = text(client.get("/operator/tags"))
        assert all(f'href="/operator/{p}"' in nav for p in ("tags", "labelling", "rules", "kb"))


def _earn(state: Any, account_id: int, sender: str, text_: str, probs: dict[str, float]) -> Message:
    """A fan writes `text_` and the tagger reads `probs` in it (as tag_message would with a model)."""
    message = fan_message(state, account_id, sender, text_)
    with session_scope(state.engine) as session:
        _update_profile(session, session.get(Message, message.id), probs, "test")
    return message


def test_tags_list_create_edit_and_the_messages_that_earned_one(app: Any, state: Any, people: None) -> None:
    client = login(app)
    account = make_account(state)
    assert post(client, "/operator/tags", "/operator/tags", {"name": "", "kind": "interest"}).status_code == 400
    response = post(client, "/operator/tags", "/operator/tags",
                    {"name": "美妆", "kind": "interest", "description": "cosmetics", "keywords": "口红，粉底, 眼影"})
    assert response.status_code == 302
    twice = post(client, "/operator/tags", "/operator/tags", {"name": "美妆", "kind": "interest"})
    assert twice.status_code == 400 and "exists already" in text(twice)
    with Session(state.engine) as session:
        tag = session.exec(select(Tag).where(Tag.name == "美妆")).one()
    assert tag.seed_keywords == ["口红", "粉底", "眼影"]
    _earn(state, account, "f1", EVIL, {"美妆": 0.99})
    _earn(state, account, "f2", "这支口红好看吗", {"美妆": 0.99})
    assert '<td class="fans">0</td>' in text(client.get("/operator/tags"))  # counted at most once a minute
    state.caches.pop("operator_tag_figures")  # a minute later
    page = text(client.get("/operator/tags"))
    row = re.search(r'<tr data-tag="美妆">.*?</tr>', page, re.S).group(0)
    assert '<td class="fans">2</td>' in row and ">0</span>" in row  # no weekly count taken yet
    refresh(state.engine, state.config.timezone)  # what a worker does every minute (hub.reports)
    state.caches.pop("operator_tag_figures")
    page = text(client.get("/operator/tags"))
    row = re.search(r'<tr data-tag="美妆">.*?</tr>', page, re.S).group(0)
    assert '<td class="fans">2</td>' in row and "<polyline" in row and ">2</span>" in row  # this week: 2 fans
    detail = text(client.get(f"/operator/tags/{tag.id}"))
    assert ESCAPED in detail and EVIL not in detail and "这支口红好看吗" in detail
    edit = post(client, f"/operator/tags/{tag.id}", f"/operator/tags/{tag.id}",
                {"description": "化妆品", "keywords": "口红, " + "长" * 31})
    assert edit.status_code == 400 and "at most 30 characters" in text(edit)
    edit = post(client, f"/operator/tags/{tag.id}", f"/operator/tags/{tag.id}",
                {"description": "化妆品", "keywords": "口红, 面膜"})
    assert edit.status_code == 302
    with Session(state.engine) as session:
        tag = session.get(Tag, tag.id)
    assert tag.description == "化妆品" and tag.seed_keywords == ["口红", "面膜"]
    assert client.get("/operator/tags/999").status_code == 404


def test_merging_a_tag_moves_fans_examples_and_keywords_manual_wins(app: Any, state: Any, people: None) -> None:
    client = login(app)
    account = make_account(state)
    with session_scope(state.engine) as session:
        from hub.tags.taxonomy import add_example, create_tag

        create_tag(session, "彩妆", "interest", keywords=["眼影"])
        create_tag(session, "美妆", "interest", keywords=["口红"])
        add_example(session, "interest", "眼影怎么画", "彩妆")
        add_example(session, "interest", "口红色号", "彩妆")
        add_example(session, "interest", "口红色号", "美妆")
    only_source = _earn(state, account, "f1", "眼影盘推荐", {"彩妆": 0.99}).fan_id
    both = _earn(state, account, "f2", "眼影和口红", {"彩妆": 0.99, "美妆": 0.5}).fan_id
    with session_scope(state.engine) as session:
        set_manual_tag(session, both, "彩妆", True)  # an operator's decision: it must survive the merge
    only_target = _earn(state, account, "f3", "口红", {"美妆": 0.99}).fan_id
    with Session(state.engine) as session:
        ids = {t.name: t.id for t in session.exec(select(Tag)).all()}
    response = post(client, f"/operator/tags/{ids['彩妆']}", f"/operator/tags/{ids['彩妆']}/merge",
                    {"target": ids["美妆"]})
    assert response.status_code == 302 and response.headers["Location"] == f"/operator/tags/{ids['美妆']}"
    assert "彩妆 已合并到 美妆：移动了 2 位粉丝和 1 条样本。" in text(client.get(response.headers["Location"]))
    assert fan_tags(state, only_source)["美妆"][:2] == (True, "auto")
    assert fan_tags(state, both)["美妆"][:2] == (True, "manual") and "彩妆" not in fan_tags(state, both)
    assert fan_tags(state, only_target)["美妆"][:2] == (True, "auto")
    with Session(state.engine) as session:
        assert session.exec(select(FanTag).where(FanTag.tag_id == ids["彩妆"])).all() == []
        assert session.get(Tag, ids["彩妆"]).deleted_at is not None
        assert session.get(Tag, ids["美妆"]).seed_keywords == ["口红", "眼影"]
        examples = sorted((e.text, e.label) for e in session.exec(select(Example)).all())
    assert examples == [("口红色号", "美妆"), ("眼影怎么画", "美妆")]
    # The fan's next message keeps the merged tag: the profile was merged too.
    _earn(state, account, "f1", "今天天气不错", {"美妆": 0.1})
    assert fan_tags(state, only_source)["美妆"][:2] == (True, "auto")
    itself = post(client, f"/operator/tags/{ids['美妆']}", f"/operator/tags/{ids['美妆']}/merge",
                  {"target": ids["美妆"]})
    assert itself.status_code == 400 and "another tag" in text(itself)
    deleted = post(client, f"/operator/tags/{ids['美妆']}", f"/operator/tags/{ids['美妆']}/delete", {})
    assert deleted.status_code == 302
    with Session(state.engine) as session:
        assert not session.exec(select(FanTag).where(FanTag.tag_id == ids["美妆"], FanTag.active == True)).all()  # noqa: E712


def test_labelling_least_certain_first_confirm_correct_and_train(app: Any, state: Any, people: None,
                                                                 worker: Any) -> None:
    client = login(app)
    account = make_account(state)
    assert "还没有兴趣模型" in text(client.get("/operator/labelling"))
    define_tags(state, {"美妆": ["口红", "粉底", "眼影"], "数码": ["手机", "耳机", "平板"]})
    sure = fan_message(state, account, "f1", "口红 粉底 眼影 口红")
    unsure = fan_message(state, account, "f2", "口红 手机")
    evil = fan_message(state, account, "f3", EVIL)
    page = text(client.get("/operator/labelling"))
    order = [int(m) for m in re.findall(r'class="label-item" data-message="(\d+)"', page)]
    assert set(order) == {sure.id, unsure.id, evil.id}
    assert order.index(unsure.id) < order.index(sure.id)  # the model hesitates over "口红 手机"
    assert ESCAPED in page and EVIL not in page
    item = re.search(rf'data-message="{sure.id}".*?</form>', page, re.S).group(0)
    assert re.search(r'value="美妆"[^>]*class="primary selected"', item)  # its prediction, pre-selected
    confirm = post(client, "/operator/labelling", "/operator/labelling/label",
                   {"message_id": sure.id, "label": "美妆", "predicted": "美妆"})
    correct = post(client, "/operator/labelling", "/operator/labelling/label",
                   {"message_id": evil.id, "label": "none", "predicted": "美妆"})
    assert confirm.status_code == correct.status_code == 303
    bad = post(client, "/operator/labelling", "/operator/labelling/label",
               {"message_id": unsure.id, "label": "不存在", "predicted": ""})
    assert bad.status_code == 303 and "is not an interest tag" in text(client.get("/operator/labelling"))
    with Session(state.engine) as session:
        examples = {(e.message_id, e.label, e.source) for e in session.exec(select(Example)).all()}
    assert examples == {(sure.id, "美妆", "operator"), (evil.id, "none", "correction")}
    page = text(client.get("/operator/labelling"))
    assert re.findall(r'class="label-item" data-message="(\d+)"', page) == [str(unsure.id)]

    started = post(client, "/operator/labelling", "/operator/labelling/train", {})
    assert started.status_code == 303
    job_id = started.headers["Location"].split("job=")[1]
    assert "hx-get" in text(client.get(f"/operator/labelling/train/{job_id}"))  # still queued: it polls
    worker()
    done = text(client.get(f"/operator/labelling/train/{job_id}"))
    assert 'data-status="finished"' in done and 'id="new-model"' in done and "hx-get" not in done
    assert 'id="training-verdict"' in done
    assert client.get("/operator/labelling/train/nonsense").status_code == 404


def test_rules_per_account_regex_errors_and_which_rule_answers(app: Any, state: Any, people: None) -> None:
    client = login(app)
    make_account(state, "brand")
    make_account(state, "other")
    page = "/operator/rules?account=brand"
    bad = post(client, page, "/operator/rules/brand", {"kind": "keyword", "match": "regex", "pattern": "价格(",
                                                      "reply": "x", "priority": "0"})
    assert bad.status_code == 400 and "does not compile" in text(bad)
    missing = post(client, page, "/operator/rules/brand", {"kind": "keyword", "match": "contains", "pattern": "",
                                                          "reply": "x", "priority": "0"})
    assert missing.status_code == 400 and "needs a pattern" in text(missing)
    for data in ({"kind": "keyword", "match": "contains", "pattern": "价格", "reply": EVIL, "priority": "0"},
                 {"kind": "keyword", "match": "regex", "pattern": r"^价格\d+$", "reply": "正则", "priority": "5"},
                 {"kind": "welcome", "match": "contains", "pattern": "spring", "reply": "春季欢迎", "priority": "0"},
                 {"kind": "menu", "match": "contains", "pattern": "MENU_A", "reply": "菜单", "priority": "0"},
                 {"kind": "default", "match": "contains", "pattern": "", "reply": "兜底的话", "priority": "0",
                  "enabled": "y"}):
        assert post(client, page, "/operator/rules/brand", {"enabled": "y", **data}).status_code == 302, data
    with Session(state.engine) as session:
        rules = {r.reply: r for r in session.exec(select(Rule)).all()}
    listing = text(client.get(page))
    assert ESCAPED in listing and EVIL not in listing and "春季欢迎" in listing
    assert "兜底的话" not in text(client.get("/operator/rules?account=other"))
    assert client.get("/operator/rules?account=nope").status_code == 404

    def which(text_: str) -> str:
        response = post(client, page, "/operator/rules/brand/test", {"text": text_})
        assert response.status_code == 200
        return re.search(r'<div id="test-answer">(.*?)</div>', text(response), re.S).group(1)

    assert f"关键词规则 {rules['正则'].id} 回答" in which("价格99")  # priority 5 beats the older "contains" rule
    assert str(rules[EVIL].id) in which("请问价格多少") and ESCAPED in which("请问价格多少")
    assert str(rules["兜底的话"].id) in which("随便聊聊")
    edit = post(client, f"/operator/rules/edit/{rules['正则'].id}", f"/operator/rules/edit/{rules['正则'].id}",
                {"kind": "keyword", "match": "regex", "pattern": "[", "reply": "正则", "priority": "5"})
    assert edit.status_code == 400 and "does not compile" in text(edit)
    assert post(client, page, f"/operator/rules/edit/{rules['兜底的话'].id}/toggle", {}).status_code == 302
    assert "兜底的话" not in which("随便聊聊")
    assert post(client, page, f"/operator/rules/edit/{rules[EVIL].id}/delete", {}).status_code == 302
    with Session(state.engine) as session:
        assert session.get(Rule, rules[EVIL].id) is None and session.get(Rule, rules["兜底的话"].id).enabled is False


def test_knowledge_base_entries_import_export_proposals_and_try(app: Any, state: Any, people: None,
                                                                worker: Any) -> None:
    client = login(app)
    bad_file = "\n".join([json.dumps({"question": "怎么退货", "answer": "七天无理由"}, ensure_ascii=False),
                          json.dumps({"question": "运费多少", "answer": "满99包邮"}, ensure_ascii=False),
                          json.dumps({"question": "没有答案"}, ensure_ascii=False)])
    response = post(client, "/operator/kb", "/operator/kb/import",
                    {"file": (io.BytesIO(bad_file.encode()), "kb.jsonl")}, content_type="multipart/form-data")
    assert response.status_code == 400 and "missing &#39;answer&#39;" in text(response)
    assert "第 3 行" in text(response) and "没有导入任何内容" in text(response)
    with Session(state.engine) as session:
        assert session.exec(select(KbEntry)).all() == []
    good = "question,answer,similar,category\n怎么退货,七天无理由退货,能退吗|如何退款,售后\n运费多少,满99包邮,,物流\n"
    response = post(client, "/operator/kb", "/operator/kb/import",
                    {"file": (io.BytesIO(good.encode()), "kb.csv")}, content_type="multipart/form-data")
    assert response.status_code == 302
    assert "2" in text(client.get("/operator/kb"))
    found = text(client.get("/operator/kb?q=如何退款"))  # a paraphrase, stored as JSON
    assert "怎么退货" in found and "运费多少" not in found
    missing = post(client, "/operator/kb", "/operator/kb/entries",
                   {"question": "x", "answer": "y", "link_url": "ftp://x", "enabled": "y"})
    assert missing.status_code == 400 and "link_url" in text(missing)
    created = post(client, "/operator/kb", "/operator/kb/entries",
                   {"question": EVIL, "answer": "会员积分可以抵现", "similar": "积分怎么用\n积分抵现", "enabled": "y"})
    assert created.status_code == 302
    entry_url = created.headers["Location"]
    entry_page = text(client.get(entry_url))
    assert ESCAPED in entry_page and EVIL not in entry_page
    edited = post(client, entry_url, entry_url, {"question": "积分怎么用", "answer": "会员积分可以抵现金",
                                                  "similar": "积分抵现", "enabled": "y"})
    assert edited.status_code == 302
    with Session(state.engine) as session:
        entry = session.exec(select(KbEntry).where(KbEntry.question == "积分怎么用")).one()
        entry.hits, entry.unhelpful = 7, 2
        session.add(entry)
        session.commit()
        entry_id = entry.id
    listing = text(client.get("/operator/kb"))
    row = re.search(rf'<tr data-entry="{entry.external_id}".*?</tr>', listing, re.S).group(0)
    assert '<td class="hits">7</td>' in row and '<td class="unhelpful">2</td>' in row
    exported = client.get("/operator/kb/export?format=csv")
    assert exported.status_code == 200 and "attachment" in exported.headers["Content-Disposition"]
    assert "积分怎么用" in exported.get_data(as_text=True) and ",7,2" in exported.get_data(as_text=True)
    assert client.get("/operator/kb/export?format=pdf").status_code == 404

    worker()  # the index rebuild the changes asked for
    tried = text(client.get("/operator/kb?ask=怎么退货"))
    assert 'data-action="answer"' in tried and "怎么退货" in tried and 'class="confidence"' in tried
    vague = text(client.get("/operator/kb?ask=今天星期几"))
    assert re.search(r'data-action="(suggest|handoff)"', vague)

    account = make_account(state)
    question = fan_message(state, account, "f9", EVIL)
    with session_scope(state.engine) as session:
        session.add(KbProposal(question=EVIL, answer="代理回答", message_id=question.id))
    page = text(client.get("/operator/kb"))
    assert ESCAPED in page and EVIL not in page
    with Session(state.engine) as session:
        proposal = session.exec(select(KbProposal)).one()
    accepted = post(client, "/operator/kb", f"/operator/kb/proposals/{proposal.id}/accept",
                    {"question": "会员怎么升级", "answer": "消费满1000元升级"})
    assert accepted.status_code == 302
    assert post(client, "/operator/kb", f"/operator/kb/entries/{entry_id}/toggle", {}).status_code == 302
    with Session(state.engine) as session:
        assert session.get(KbProposal, proposal.id).status == "accepted"
        new = session.exec(select(KbEntry).where(KbEntry.question == "会员怎么升级")).one()
        assert new.answer == "消费满1000元升级"
        assert session.get(KbEntry, entry_id).enabled is False


@SQLITE
def test_the_operator_forms_need_the_csrf_token(app: Any, people: None) -> None:
    client = login(app)
    for url in ("/operator/tags", "/operator/labelling/train", "/operator/kb/entries", "/operator/kb/import"):
        assert client.post(url, data={}).status_code == 400, url
