"""A missing or broken sentence encoder: the hub builds and serves the lexical retriever, says so in the
log and in /readyz, and answers only with the thresholds calibrated for the lexical retriever."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from hub.core.blob_holder import active_blob
from hub.kb.index import KIND, kb_service, rebuild_kb_index
from tests.kb.test_knowledge_base import ENTRIES
from tests.kb.test_semantic_index import _import


@pytest.fixture
def hub_config(hub_config: dict[str, Any], tmp_path: Any) -> dict[str, Any]:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    return {**hub_config, "kb_encoder": str(broken)}


def test_broken_encoder_serves_the_lexical_retriever(state: Any, app: Any, caplog: Any) -> None:
    _import(state, ENTRIES)
    with caplog.at_level(logging.WARNING):
        rebuild_kb_index()
    assert any("lexical retriever" in r.getMessage() for r in caplog.records)
    blob = active_blob(state, KIND)
    assert blob is not None and blob.metrics["mode"] == "lexical" and list(blob.metrics["thresholds"]) == ["lexical"]
    service = kb_service(state, wait=True)
    assert service is not None and service.mode == "lexical"
    assert [service.thresholds.answer, service.thresholds.suggest] == blob.metrics["thresholds"]["lexical"]
    assert service.decide("怎么退货").action == "answer"  # its own question: the verbatim rule
    assert service.decide("").action == "handoff"
    body = app.test_client().get("/readyz").get_json()
    assert body["details"]["kb_retriever"]["mode"] == "lexical"
    assert body["details"]["kb_retriever"]["error"]
