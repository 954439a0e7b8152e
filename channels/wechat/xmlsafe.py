"""Safe parsing of the XML WeChat posts: strict UTF-8, no DTD, no entities, a flat <xml> root."""

from __future__ import annotations

from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as DefusedET
from defusedxml import DefusedXmlException


class XmlRejected(Exception):
    """The payload is not acceptable XML; `reason` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def decode_utf8(body: bytes) -> str:
    """The body as text; WeChat always sends UTF-8, anything else is rejected."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XmlRejected(f"body is not valid UTF-8 (byte {exc.start})") from exc
    return text.removeprefix("\ufeff")


def parse_xml(text: str) -> Element:
    """Parse a WeChat XML document. Parsing the decoded text (not bytes) means an `encoding=` declaration
    cannot reinterpret the bytes; defusedxml refuses DTDs, entity declarations and external references
    (XXE, billion laughs)."""
    if not text.strip():
        raise XmlRejected("empty body")
    try:
        root = DefusedET.fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except DefusedXmlException as exc:
        raise XmlRejected(f"forbidden XML construct: {type(exc).__name__}") from exc
    except ParseError as exc:
        raise XmlRejected(f"malformed XML: {exc}") from exc
    except (ValueError, RecursionError) as exc:  # e.g. text the expat binding cannot take
        raise XmlRejected(f"malformed XML: {type(exc).__name__}") from exc
    if root.tag != "xml":
        raise XmlRejected(f"root element is <{root.tag[:40]}>, expected <xml>")
    return root


def child_text(root: Element, tag: str) -> str | None:
    """Stripped text of a direct child element (CDATA included), "" when empty, None when absent."""
    node = root.find(tag)
    if node is None:
        return None
    return (node.text or "").strip()


def flatten(root: Element, limit: int = 500) -> dict[str, str]:
    """The message as path -> text: direct children by tag, nested ones as "Parent/Child"; a repeated
    path gets "#2", "#3"... Text is kept verbatim (whitespace included); at most `limit` entries."""
    fields: dict[str, str] = {}

    def walk(node: Element, prefix: str) -> None:
        for child in node:
            if len(fields) >= limit:
                return
            path = prefix + child.tag
            if path in fields:
                n = 2
                while f"{path}#{n}" in fields:
                    n += 1
                path = f"{path}#{n}"
            if len(child):
                fields[path] = ""
                walk(child, path + "/")
            else:
                fields[path] = child.text or ""

    walk(root, "")
    return fields
