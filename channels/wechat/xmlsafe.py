"""Safe parsing of the XML WeChat posts: strict UTF-8, no DTD, no entities, an <xml> root, flattened to
path -> text in one pass.

The parser is expat, set up the way defusedxml sets it up (a DTD, an entity declaration or an external
reference stops the parse), but it builds the flat mapping the hub uses straight from expat's callbacks
instead of an ElementTree: defusedxml has to run ElementTree's pure-Python parser to hook those handlers,
and that tree cost 29-41 µs of a fan message against 12 µs here (bench: a text message, in-process). The
tests check this parser against defusedxml's on the fixtures and on generated documents.
"""

from __future__ import annotations

from xml.parsers import expat

MAX_FIELDS = 500
MAX_DEPTH = 32  # WeChat's deepest message (SendPicsInfo/PicList/item/PicMd5Sum) is 4 below <xml>


class XmlRejected(Exception):
    """The payload is not acceptable XML; `reason` is safe to log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class _Forbidden(Exception):
    def __init__(self, construct: str) -> None:
        super().__init__(construct)
        self.construct = construct


def decode_utf8(body: bytes) -> str:
    """The body as text; WeChat always sends UTF-8, anything else is rejected."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise XmlRejected(f"body is not valid UTF-8 (byte {exc.start})") from exc
    return text.removeprefix("\ufeff")


class _Flattener:
    """expat's callbacks, collecting path -> text: direct children of <xml> by tag, nested ones as
    "Parent/Child", a repeated path as "#2", "#3"...; a leaf's text verbatim (whitespace and CDATA
    included), "" for an element with children; at most MAX_FIELDS entries (the rest is parsed, not kept)."""

    def __init__(self) -> None:
        self.fields: dict[str, str] = {}
        self.open: list[list] = []  # [path (None when not kept), has children] per open element; root: ""
        self.text: list[str] = []  # character data since the last tag

    def start(self, tag: str, _attributes: dict[str, str]) -> None:
        if not self.open:
            if tag != "xml":
                raise XmlRejected(f"root element is <{tag[:40]}>, expected <xml>")
            self.open.append(["", True])
            return
        if len(self.open) > MAX_DEPTH:
            raise XmlRejected(f"elements nested more than {MAX_DEPTH} deep")
        parent = self.open[-1]
        parent[1] = True
        path = f"{parent[0]}/{tag}" if parent[0] else tag
        if parent[0] is None or len(self.fields) >= MAX_FIELDS:
            path = None
        elif path in self.fields:
            n = 2
            while f"{path}#{n}" in self.fields:
                n += 1
            path = f"{path}#{n}"
        if path is not None:
            self.fields[path] = ""
        self.open.append([path, False])
        self.text.clear()

    def end(self, _tag: str) -> None:
        path, has_children = self.open.pop()
        if path and not has_children:
            self.fields[path] = "".join(self.text)
        self.text.clear()


def _forbid(construct: str):  # noqa: ANN202 - an expat handler taking whatever that callback gets
    def handler(*_args: object) -> None:
        raise _Forbidden(construct)
    return handler


_FORBID_DTD = _forbid("DTD")
_FORBID_ENTITY = _forbid("entity declaration")
_FORBID_UNPARSED = _forbid("unparsed entity declaration")
_FORBID_EXTERNAL = _forbid("external reference")


def parse_fields(text: str) -> dict[str, str]:
    """Parse a WeChat XML document into path -> text (see _Flattener). Parsing the decoded text (not bytes)
    makes expat read it as UTF-8 whatever an `encoding=` declaration says."""
    if not text.strip():
        raise XmlRejected("empty body")
    flat = _Flattener()
    parser = expat.ParserCreate()
    parser.buffer_text = True
    parser.StartElementHandler = flat.start
    parser.EndElementHandler = flat.end
    parser.CharacterDataHandler = flat.text.append
    parser.StartDoctypeDeclHandler = _FORBID_DTD
    parser.EntityDeclHandler = _FORBID_ENTITY
    parser.UnparsedEntityDeclHandler = _FORBID_UNPARSED
    parser.ExternalEntityRefHandler = _FORBID_EXTERNAL
    try:
        parser.Parse(text, True)
    except _Forbidden as exc:
        raise XmlRejected(f"forbidden XML construct: {exc.construct}") from None
    except expat.ExpatError as exc:
        raise XmlRejected(f"malformed XML: {expat.ErrorString(exc.code)} at line {exc.lineno}") from None
    except (ValueError, RecursionError) as exc:  # e.g. text the expat binding cannot take
        raise XmlRejected(f"malformed XML: {type(exc).__name__}") from None
    return flat.fields
