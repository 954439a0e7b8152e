"""The webhook's flat XML parser (channels.wechat.xmlsafe) against defusedxml's tree: on every fixture and on
generated documents both refuse the same input, and where they accept it they read the same fields."""

from __future__ import annotations

from pathlib import Path
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DefusedET
import pytest
from defusedxml import DefusedXmlException
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.wechat.xmlsafe import MAX_DEPTH, MAX_FIELDS, XmlRejected, parse_fields

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "wechat"


def reference(text: str) -> dict[str, str] | None:
    """path -> text as defusedxml's ElementTree reads `text`; None where it (or the <xml> root rule) refuses."""
    if not text.strip():
        return None
    try:
        root = DefusedET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DefusedXmlException, ParseError, ValueError, RecursionError):
        return None
    if root.tag != "xml":
        return None
    fields: dict[str, str] = {}

    def walk(node: Element, prefix: str) -> None:
        for child in node:
            if len(fields) >= MAX_FIELDS:
                return
            path = prefix + child.tag
            if path in fields:
                n = 2
                while f"{path}#{n}" in fields:
                    n += 1
                path = f"{path}#{n}"
            fields[path] = ""
            if len(child):
                walk(child, path + "/")
            else:
                fields[path] = child.text or ""

    walk(root, "")
    return fields


def flat(text: str) -> dict[str, str] | None:
    try:
        return parse_fields(text)
    except XmlRejected:
        return None


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.xml")), ids=lambda p: p.name)
def test_fixtures_read_the_same(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert flat(text) == reference(text)
    assert flat(text)


TAGS = ["xml", "A", "B", "Content", "item"]
tags = st.sampled_from(TAGS)
texts = st.one_of(st.sampled_from(["", " ", "\n  ", "é", "x&amp;y", "&#20320;", "]]&gt;", "a<!--c-->b", "&lol;"]),
                  st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=6))


def element(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    return st.builds(lambda tag, before, inner, cdata: f"<{tag}>{before}{inner}{cdata}</{tag}>",
                     tags, texts, children, st.sampled_from(["", "<![CDATA[ <b> ]]>", "<?pi x?>"]))


trees = st.recursive(texts, lambda children: st.lists(element(children), max_size=4).map("".join), max_leaves=20)
prologues = st.sampled_from(["", "<?xml version='1.0'?>", "<?xml version='1.0' encoding='ISO-8859-1'?>",
                             "<!DOCTYPE xml>", '<!DOCTYPE x [<!ENTITY lol "lol">]>',
                             '<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>', "<!-- c -->", "\ufeff"])
documents = st.builds(lambda prologue, root, body: f"{prologue}<{root}>{body}</{root}>",
                      prologues, st.sampled_from(["xml", "xml", "Xml", "a"]), trees)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(documents | st.text(max_size=40))
def test_generated_documents_read_the_same(text: str) -> None:
    assert flat(text) == reference(text)


@pytest.mark.parametrize("text", [
    '<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><xml><A>&b;</A></xml>',
    '<!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]><xml><A>&e;</A></xml>',
    '<!DOCTYPE xml SYSTEM "http://127.0.0.1:1/x.dtd"><xml/>',
    "<xml><A>&undefined;</A></xml>",
])
def test_dtds_and_entities_are_refused(text: str) -> None:
    with pytest.raises(XmlRejected):
        parse_fields(text)


def test_deep_nesting_is_refused_not_a_recursion() -> None:
    assert parse_fields("<xml>" + "<A>" * MAX_DEPTH + "</A>" * MAX_DEPTH + "</xml>")
    deep = "<xml>" + "<A>" * 5000 + "</A>" * 5000 + "</xml>"
    with pytest.raises(XmlRejected, match="nested"):
        parse_fields(deep)


def test_fields_past_the_limit_are_parsed_not_kept() -> None:
    fields = parse_fields("<xml>" + "<A>1</A>" * (MAX_FIELDS + 10) + "<B>2</B></xml>")
    assert len(fields) == MAX_FIELDS
    assert "B" not in fields
    with pytest.raises(XmlRejected):
        parse_fields("<xml>" + "<A>1</A>" * (MAX_FIELDS + 10) + "<B></xml>")
