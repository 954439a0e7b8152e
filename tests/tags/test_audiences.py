"""Audiences (issue 21, item 2): the expression language (precedence, Chinese operator words, quoted names,
filters, errors naming the position) and its SQL, whose counts and members must equal a Python evaluation of the
same tree over random fans, on SQLite and PostgreSQL; saved audiences and the CSV export."""

from __future__ import annotations

import csv
import io
import random
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import Session

from hub.tags import audience_query as aq
from hub.tags import audiences
from hub.tags.audience_syntax import And, AudienceSyntaxError, Filter, Not, Tag, parse
from tests.tags.audience_data import NOW, ZONE, expected_ids, populate, random_expression


def _shape(node: Any) -> Any:
    """A tree without positions, for comparing."""
    if isinstance(node, Tag):
        return node.name
    if isinstance(node, Filter):
        return f"{node.field}{node.op}{node.value}"
    if isinstance(node, Not):
        return ("not", _shape(node.item))
    return ("and" if isinstance(node, And) else "or", *(_shape(i) for i in node.items))


@pytest.mark.parametrize(("text", "shape"), [
    ("a OR b AND c", ("or", "a", ("and", "b", "c"))),
    ("a AND b OR c", ("or", ("and", "a", "b"), "c")),
    ("NOT a AND b", ("and", ("not", "a"), "b")),
    ("NOT (a OR b)", ("not", ("or", "a", "b"))),
    ("not not a", "a"),
    ("(美妆 OR 母婴) AND NOT 已购", ("and", ("or", "美妆", "母婴"), ("not", "已购"))),
    ("美妆 且 母婴 或 非 数码", ("or", ("and", "美妆", "母婴"), ("not", "数码"))),
    ("美妆 交 （母婴 并 数码）", ("and", "美妆", ("or", "母婴", "数码"))),
    ("美妆 差 已购 差 数码", ("and", "美妆", ("not", "已购"), ("not", "数码"))),
    ("a & b | !c", ("or", ("and", "a", "b"), ("not", "c"))),
    ('"home care" and \'AND\' and "q\\"uote"', ("and", "home care", "AND", 'q"uote')),
    ("美妆且母婴", "美妆且母婴"),  # operator words stand apart: this is one tag name
    ("channel:WeChat account:Brand", None),
    ("channel:wechat AND account:brand AND subscribed:NO AND scene:spring", (
        "and", "channel:wechat", "account:brand", "subscribed:no", "scene:spring")),
    ("first_seen>=2026-11-01 OR active<30d OR active>=2w OR intent:complaint OR ticket:open", (
        "or", "first_seen>=2026-11-01", "active<30d", "active>=2w", "intent:complaint", "ticket:open")),
])
def test_precedence_and_spellings(text: str, shape: Any) -> None:
    if shape is None:
        with pytest.raises(AudienceSyntaxError) as caught:
            parse(text)
        assert caught.value.position == text.index("account")
        return
    assert _shape(parse(text)) == shape


@pytest.mark.parametrize(("text", "position", "expected"), [
    ("", 0, "a tag name or a filter"),
    ("美妆 AND", 6, "a tag name, a filter"),
    ("(美妆 OR 母婴", 9, "AND, OR or the ')' closing the '(' at position 0"),
    ("美妆 OR 母婴)", 8, "this ')' closes nothing"),
    ("美妆 母婴", 3, "AND, OR or the end"),
    ("美妆 AND OR 母婴", 7, "a tag name, a filter"),
    ("subscribed:maybe", 11, "subscribed:yes|no"),
    ("ticket:later", 7, "ticket:open|any"),
    ("first_seen>=yesterday", 12, "a date such as 2026-11-01"),
    ("first_seen>=2026-02-30", 12, "a real calendar date"),
    ("active:30d", 6, "a comparison after active"),
    ("active=30d", 6, ">=, <=, > or < before an age"),
    ("channel>=wechat", 7, "':' after channel"),
    ('美妆 AND "未完', 10, "the closing \" of the name opened at position 7"),
    ('""', 0, "a tag name inside the quotes"),
    ("account:", 8, "a value after account:"),
])
def test_errors_name_the_position_and_what_was_expected(text: str, position: int, expected: str) -> None:
    with pytest.raises(AudienceSyntaxError) as caught:
        parse(text)
    assert caught.value.position == position, str(caught.value)
    assert expected in caught.value.expected, str(caught.value)
    assert str(caught.value).startswith(f"at position {position}: expected ")


def test_nesting_and_length_are_bounded() -> None:
    with pytest.raises(AudienceSyntaxError, match="nested"):
        parse("(" * 60 + "a" + ")" * 60)
    with pytest.raises(AudienceSyntaxError, match="at most 2000"):
        parse("a OR " * 500 + "a")


def test_counts_equal_a_python_evaluation_on_random_fans(state: Any) -> None:
    facts = populate(state, 150)
    rng = random.Random(21)
    expressions = [random_expression(rng) for _ in range(60)]
    expressions += ["(美妆 OR 母婴) AND NOT 已购", "NOT 美妆", "subscribed:no", "ticket:none AND NOT intent:human",
                    "母婴 差 (数码 或 ticket:open)", '"home care" OR first_seen=2026-11-20']
    nonempty = 0
    with Session(state.engine) as session:
        ctx = aq.Context(aq.tag_ids(session), aq.ZoneInfo(ZONE), NOW, state.engine.dialect.name)
        for text in expressions:
            node = parse(text)
            audience = aq.fan_ids(node, ctx)
            want = expected_ids(node, facts)
            got = set(session.scalars(select(audience.c.fan_id)).all())
            assert got == want, text
            assert aq.count(session, audience) == len(want), text
            nonempty += 0 < len(want) < len(facts)
    assert nonempty > 30  # the random expressions were not all trivial


def test_unknown_tags_are_named_with_their_position(state: Any) -> None:
    populate(state, 5)
    with Session(state.engine) as session, pytest.raises(aq.UnknownTag) as caught:
        aq.compile_expression(session, "美妆 AND 不存在")
    assert caught.value.position == 7 and caught.value.found == "不存在"


def test_evaluate_saved_audiences_and_the_csv_export(state: Any) -> None:
    facts = populate(state, 80)
    expression = "(美妆 OR 母婴) AND NOT 已购"
    want = expected_ids(parse(expression), facts)
    result = audiences.evaluate(state, expression, sample_size=5)
    assert result.count == len(want) and len(result.sample) == min(5, len(want))
    assert {fan.id for fan in result.sample} <= want
    saved = audiences.save(state, "核心妈妈", expression, "for the spring campaign")
    assert saved.last_count == len(want)
    with pytest.raises(audiences.AudienceError, match="exists already"):
        audiences.save(state, "核心妈妈", "美妆")
    with pytest.raises(AudienceSyntaxError):
        audiences.save(state, "broken", "美妆 AND (")
    renamed = audiences.save(state, "核心妈妈 2", "美妆", audience_id=saved.id)
    assert renamed.id == saved.id and [a.name for a in audiences.saved(state)] == ["核心妈妈 2"]
    row, again = audiences.reopen(state, saved.id)
    assert again.count == len(expected_ids(parse("美妆"), facts)) == row.last_count

    total, chunks = audiences.export_csv(state, expression, chunk=7)
    rows = list(csv.reader(io.StringIO("".join(chunks))))
    assert total == len(want) and rows[0] == list(audiences.CSV_COLUMNS)
    assert [int(r[0]) for r in rows[1:]] == sorted(want)
    by_id = {f.id: f for f in facts}
    for row_ in rows[1:]:
        fan = by_id[int(row_[0])]
        assert set(filter(None, row_[5].split("|"))) == fan.tags
        assert {o.split(":")[0] for o in row_[4].split()} == fan.accounts
    assert audiences.delete(state, saved.id) and not audiences.saved(state)


def test_csv_cells_never_become_formulas(state: Any) -> None:
    from hub.core.db import session_scope
    from hub.core.models import Fan
    from hub.tags.models import FanTag
    from hub.tags.models import Tag as TagRow

    with session_scope(state.engine) as session:
        tag = TagRow(name="美妆")
        fan = Fan(display_name="=HYPERLINK(\"http://x\")")
        session.add_all([tag, fan])
        session.flush()
        session.add(FanTag(fan_id=fan.id, tag_id=tag.id))
    _total, chunks = audiences.export_csv(state, "美妆")
    rows = list(csv.reader(io.StringIO("".join(chunks))))
    assert rows[1][1] == "'=HYPERLINK(\"http://x\")"
