"""The labelling queue (hub.tags.labelling): the margin between the model's two best classes (tags and "none"),
least certain first, labelled messages and texts left out, and a tag deleted after scoring dropped."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from hub.core.db import session_scope
from hub.tags.labelling import label_queue, score
from hub.tags.taxonomy import add_example, delete_tag
from tests.support.tickets_setup import fan_message, make_account
from tests.tags.helpers import define_tags


def test_the_margin_is_between_the_two_best_classes_none_included() -> None:
    assert score({"美妆": 0.7, "数码": 0.6}) == ("美妆", 0.1, {"美妆": 0.7, "数码": 0.6, "none": 0.3})
    best, margin, _ = score({"美妆": 0.1, "数码": 0.05})
    assert (best, margin) == ("none", 0.8)
    assert score({}) == ("none", 1.0, {"none": 1.0})


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_queue_puts_the_least_certain_first_and_skips_labelled_texts(state: Any) -> None:
    account = make_account(state)
    with Session(state.engine) as session:
        assert label_queue(state, session) == []
    define_tags(state, {"美妆": ["口红", "粉底", "眼影"], "数码": ["手机", "耳机", "平板"]})
    sure = fan_message(state, account, "f1", "口红 粉底 眼影")
    torn = fan_message(state, account, "f2", "口红 手机")
    twin = fan_message(state, account, "f3", "口红 粉底 眼影")  # the same text as `sure`
    with Session(state.engine) as session:
        items = label_queue(state, session)
    assert [i.message_id for i in items][0] == torn.id
    assert {i.message_id for i in items} == {sure.id, torn.id, twin.id}
    assert all(items[k].margin <= items[k + 1].margin for k in range(len(items) - 1))
    with session_scope(state.engine) as session:
        add_example(session, "interest", None, "美妆", message_id=sure.id)
    with Session(state.engine) as session:
        assert [i.message_id for i in label_queue(state, session)] == [torn.id]  # its twin text is labelled too
    with session_scope(state.engine) as session:
        delete_tag(session, "数码")
    with Session(state.engine) as session:
        [item] = label_queue(state, session)
    assert "数码" not in item.probs and item.prediction in ("美妆", "none")
