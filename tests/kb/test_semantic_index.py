"""The semantic index through the hub: a rebuild embeds (reusing vectors by text hash), calibrates on the KB
toward HUB_KB_TARGET_PRECISION, and every process serves it with the thresholds calibrated for its mode."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from hub.core.blob_holder import active_blob
from hub.core.db import session_scope
from hub.kb.entries import import_rows
from hub.kb.files import read_entries
from hub.kb.index import KIND, kb_service, rebuild_kb_index
from hub.kb.models import KbEntry
from tests.kb.test_knowledge_base import ENTRIES


def _import(state: Any, rows: list[dict[str, Any]]) -> None:
    import json

    data = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows).encode()
    with session_scope(state.engine) as session:
        import_rows(session, read_entries("kb.jsonl", data))


@pytest.fixture
def hub_config(hub_config: dict[str, Any]) -> dict[str, Any]:
    return {**hub_config, "kb_target_precision": "0.95"}


def test_rebuild_embeds_calibrates_and_reuses_vectors(state: Any, app: Any) -> None:
    assert state.config.kb_target_precision == 0.95
    _import(state, ENTRIES)
    rebuild_kb_index()
    blob = active_blob(state, KIND)
    assert blob is not None
    m = blob.metrics
    assert m["mode"] == "semantic" and set(m["thresholds"]) == {"semantic", "lexical"}
    assert m["calibration"]["semantic"]["target_precision"] == 0.95
    texts = sum(len({e["question"], *e["similar"]}) + 1 for e in ENTRIES)
    assert m["embedded"] == texts

    service = kb_service(state, wait=True)
    assert service is not None and service.mode == "semantic"
    assert [service.thresholds.answer, service.thresholds.suggest] == m["thresholds"]["semantic"]
    assert service.search("东西不想要了能退吗", k=3)[0].entry_id in {"return", "refund"}

    with session_scope(state.engine) as session:  # edit one answer: one vector is embedded again
        entry = session.exec(select(KbEntry).where(KbEntry.external_id == "invoice")).one()
        entry.answer = "下单时勾选“开具发票”，也可以在订单详情页补开。"
        session.add(entry)
    rebuild_kb_index()
    assert active_blob(state, KIND).metrics["embedded"] == 1  # type: ignore[union-attr]

    details = app.test_client().get("/readyz").get_json()["details"]
    assert details["kb_retriever"]["mode"] == "semantic"
    assert details["kb_index"]["mode"] == "semantic"


def test_calibration_uses_the_hubs_feedback(state: Any) -> None:
    from hub.kb.feedback import calibration_feedback

    _import(state, ENTRIES)
    with session_scope(state.engine) as session:
        assert calibration_feedback(session) == []  # nothing answered yet
