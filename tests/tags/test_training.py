"""Training interest models as RQ jobs (progress, the "no worse" rule), the tags CLI and the tags API."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from rq.job import Job
from sqlmodel import Session, select

from hub.core.blob_holder import active_version
from hub.core.db import session_scope
from hub.core.models import ModelBlob
from hub.tags.classifiers import held_back, request_training, train_tag_model
from hub.tags.taxonomy import add_example
from tests.tags.helpers import (
    BEAUTY,
    add_user,
    cli_runner,
    define_tags,
    login,
)

BEAUTY_TEXTS = ["这支口红显色吗", "粉底液适合油皮吗", "眼影盘有哪些色号", "面膜一周敷几次", "卸妆水刺激吗",
                "防晒霜会不会油", "腮红怎么涂自然", "睫毛膏防水吗", "香水留香多久", "精华液怎么用",
                "口红会不会掉色", "粉饼适合干皮吗", "眉笔什么颜色好", "唇釉和口红哪个好", "洗面奶适合敏感肌吗"]
TECH_TEXTS = ["这款手机续航怎么样", "蓝牙耳机能连电脑吗", "平板支持手写笔吗", "笔记本电脑能玩游戏吗", "充电器是快充吗",
              "手表能测心率吗", "相机像素多少", "路由器信号穿墙吗", "键盘是机械轴吗", "显示器刷新率多少",
              "手机内存能扩展吗", "耳机降噪效果好吗", "音箱能连手机吗", "电脑风扇噪音大吗", "数据线支持快充吗"]


@pytest.fixture
def run_cli(hub_config: dict[str, Any], app: Any) -> Any:
    return cli_runner(hub_config)


def _label(state: Any, pairs: list[tuple[str, str]]) -> None:
    with session_scope(state.engine) as session:
        for text, label in pairs:
            add_example(session, "interest", text, label)


def test_training_job_reports_progress_and_keeps_the_better_model(state: Any, worker: Any) -> None:
    define_tags(state, {"美妆": [], "数码": []}, train=False)  # examples only: no keywords to fall back on
    _label(state, [(t, "美妆") for t in BEAUTY_TEXTS] + [(t, "数码") for t in TECH_TEXTS])
    job_id = request_training(state, "interest")
    worker()
    job = Job.fetch(job_id, connection=state.redis)
    assert job.get_status() == "finished"
    assert job.meta["progress"] == {"fraction": 1.0, "message": "accepted"}
    good = job.meta["result"]
    assert good["accepted"] and good["metrics"]["model"] == "linear"
    with Session(state.engine) as session:
        blob = session.exec(select(ModelBlob).where(ModelBlob.kind == "interest", ModelBlob.active == True)).one()  # noqa: E712
    held = sum(held_back(t) for t in BEAUTY_TEXTS + TECH_TEXTS)
    assert held > 0 and blob.metrics["held_back"] == held and blob.metrics["accuracy"] == 1.0
    assert blob.version == good["version"] == active_version(state, "interest")

    # Operators label paraphrases with the wrong tag: the new model is worse on the held-back texts.
    wrong = [(t + suffix, "数码" if t in BEAUTY_TEXTS else "美妆")
             for t in BEAUTY_TEXTS + TECH_TEXTS for suffix in ("呀", "呢", "啊") if not held_back(t + suffix)]
    _label(state, wrong)
    worse = train_tag_model("interest")
    assert not worse["accepted"] and "worse than the active model" in worse["reason"]
    assert worse["metrics"]["accuracy"] < 1.0 and active_version(state, "interest") == good["version"]
    forced = train_tag_model("interest", force=True)
    assert forced["accepted"] and active_version(state, "interest") == forced["version"]


def test_tags_cli(run_cli: Any, state: Any, tmp_path: Path) -> None:
    assert run_cli("tags", "add", "美妆", "--keywords", "口红,粉底，眼影", "--description", "cosmetics").exit_code == 0
    assert run_cli("tags", "add", "VIP", "--kind", "manual").exit_code == 0
    duplicate = run_cli("tags", "add", "美妆")
    assert duplicate.exit_code != 0 and "exists already" in duplicate.output
    listed = json.loads(run_cli("tags", "list", "--json").output)
    assert [(t["name"], t["kind"], t["keywords"]) for t in listed] == [
        ("美妆", "interest", ["口红", "粉底", "眼影"]), ("VIP", "manual", [])]
    assert run_cli("tags", "label", "--kind", "interest", "口红掉色吗", "美妆").exit_code == 0
    unknown = run_cli("tags", "label", "--kind", "interest", "口红掉色吗", "汽车")
    assert unknown.exit_code != 0 and "not an interest tag" in unknown.output
    trained = run_cli("tags", "train")
    assert trained.exit_code == 0 and "accepted: no model yet" in trained.output
    assert run_cli("tags", "train", "--kind", "intent").exit_code == 0
    assert run_cli("tags", "remove", "VIP").exit_code == 0
    assert run_cli("tags", "remove", "VIP").exit_code != 0
    assert [t["name"] for t in json.loads(run_cli("tags", "list", "--json").output)] == ["美妆"]


def _jsonl(path: Path, rows: list[Any]) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r, ensure_ascii=False)) + "\n" for r in rows),
                    encoding="utf-8")
    return path


def test_tags_eval_prints_metrics_and_names_bad_lines(run_cli: Any, tmp_path: Path) -> None:
    rows = [{"text": t, "label": "美妆"} for t in BEAUTY_TEXTS] + [{"text": t, "label": "数码"} for t in TECH_TEXTS]
    train = _jsonl(tmp_path / "train.jsonl", rows[2:13] + rows[17:])
    test = _jsonl(tmp_path / "test.jsonl", rows[:2] + rows[13:17])
    result = run_cli("tags", "eval", "--train", str(train), "--test", str(test), "--json")
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    assert {"accuracy", "macro_f1", "train_s", "predict_per_s"} <= figures.keys() and figures["accuracy"] > 0.5
    missing = _jsonl(tmp_path / "missing.jsonl", [rows[0], rows[1], {"text": "没有标签的行"}])
    unknown = _jsonl(tmp_path / "unknown.jsonl", [rows[0], {"text": "汽车保养多少钱", "label": "汽车"}])
    for bad_train, bad_test, where in ((missing, test, "missing.jsonl:3:"), (train, unknown, "unknown.jsonl:2:")):
        failed = run_cli("tags", "eval", "--train", str(bad_train), "--test", str(bad_test), "--json")
        assert failed.exit_code != 0 and where in failed.output
        assert len(failed.output.strip().splitlines()) == 1


def test_tags_api_roles_profile_examples_and_training(app: Any, state: Any, worker: Any) -> None:
    from hub.core.models import Fan

    add_user(state, "agent@x.test", "agent")
    add_user(state, "op@x.test", "operator")
    agent, agent_h = login(app, "agent@x.test")
    operator, op_h = login(app, "op@x.test")
    body = {"name": "美妆", "keywords": BEAUTY, "description": "cosmetics"}
    assert agent.post("/api/v1/tags", json=body, headers=agent_h).status_code == 403
    assert app.test_client().get("/api/v1/tags").status_code == 401
    created = operator.post("/api/v1/tags", json=body, headers=op_h)
    assert created.status_code == 201
    assert operator.post("/api/v1/tags", json=body, headers=op_h).status_code == 400
    assert operator.post("/api/v1/tags", json={"name": "x" * 31}, headers=op_h).get_json()["error"].startswith(
        "a tag name is at most 30")
    worker()  # the cold-start model the new tag asked for
    assert [t["name"] for t in agent.get("/api/v1/tags").get_json()] == ["美妆"]
    tag_id = created.get_json()["id"]

    assert agent.post("/api/v1/tags/examples", json={"kind": "interest", "text": "口红", "label": "美妆"},
                      headers=agent_h).status_code == 403
    assert operator.post("/api/v1/tags/examples", json={"kind": "interest", "text": "口红", "label": "汽车"},
                         headers=op_h).status_code == 400
    assert operator.post("/api/v1/tags/examples", json={"kind": "intent", "text": "我要找客服", "label": "human"},
                         headers=op_h).status_code == 201
    started = operator.post("/api/v1/tags/train", json={"kind": "intent"}, headers=op_h)
    assert started.status_code == 202
    worker()
    status = operator.get(f"/api/v1/tags/train/{started.get_json()['job_id']}").get_json()
    assert status["status"] == "finished" and status["progress"]["fraction"] == 1.0
    assert status["result"]["accepted"] and "held_back" in status["result"]["metrics"]
    assert agent.get(f"/api/v1/tags/train/{started.get_json()['job_id']}").status_code == 403

    with session_scope(state.engine) as session:
        fan = Fan(display_name="f")
        session.add(fan)
        session.flush()
        fan_id = fan.id
    assert agent.put(f"/api/v1/fans/{fan_id}/tags/{tag_id}", json={"on": True}, headers=agent_h).status_code == 403
    put = operator.put(f"/api/v1/fans/{fan_id}/tags/{tag_id}", json={"on": True}, headers=op_h)
    assert put.status_code == 200 and put.get_json()["tags"][0]["source"] == "manual"
    profile = agent.get(f"/api/v1/fans/{fan_id}/interests").get_json()
    assert [(t["tag"], t["source"]) for t in profile["tags"]] == [("美妆", "manual")]
    assert operator.delete(f"/api/v1/fans/{fan_id}/tags/{tag_id}", headers=op_h).get_json()["tags"] == []
    assert operator.delete(f"/api/v1/tags/{tag_id}", headers=op_h).status_code == 200
    assert operator.get("/api/v1/tags").get_json() == []
    paths = app.test_client().get("/api/v1/openapi.json").get_json()["paths"]
    assert {"/tags", "/fans/{fan_id}/interests", "/tags/train/{job_id}"} <= paths.keys()
