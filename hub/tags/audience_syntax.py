"""The audience language: interest tags combined with AND / OR / NOT and parentheses, plus filters on fans.

    (美妆 OR 母婴) AND NOT 已购
    美妆 且 (account:brand 或 scene:spring_promo) 且 非 ticket:open
    "tag with spaces" AND first_seen>=2026-11-01 AND active<30d

Operators (whole words, any case): AND 且 交 & · OR 或 并 | · NOT 非 ! · binary difference `A 差 B` (= A AND NOT B).
NOT binds tightest, then AND and 差 (left to right), then OR. Chinese operator words must stand apart from tag
names (spaces or parentheses): `美妆且母婴` is one tag name.

A bare word or a quoted string ("..." or '...', backslash escapes the quote) is a tag's name (quote a name with
spaces, parentheses, ! & | or an operator word in it). `field:value`
and `field<op>value` are filters (FILTERS below): channel, account, subscribed, scene, intent, ticket, and the
dates first_seen / active compared with >= <= > < = against a date (2026-11-01) or an age (30d, 12h, 2w):
`active<30d` means "active less than 30 days ago", `first_seen>7d` "first seen more than 7 days ago".

`parse(text)` returns the tree (`Tag`, `Filter`, `Not`, `And`, `Or`) or raises `AudienceSyntaxError` with the
character offset (0-based) and what was expected there.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

MAX_LENGTH = 2000
MAX_DEPTH = 50

# field -> the values it takes (None: any non-empty text); dates take comparisons instead.
FILTERS: dict[str, tuple[str, ...] | None] = {
    "channel": None, "account": None, "subscribed": ("yes", "no"), "scene": None, "intent": None,
    "ticket": ("open", "any", "none", "assigned", "waiting", "resolved", "closed"),
}
DATE_FIELDS = ("first_seen", "active")
COMPARISONS = (">=", "<=", ">", "<", "=")

AND_WORDS = frozenset({"and", "且", "交", "&", "&&"})
OR_WORDS = frozenset({"or", "或", "并", "|", "||"})
NOT_WORDS = frozenset({"not", "非", "!"})
DIFF_WORDS = frozenset({"差"})
OPERATOR_WORDS = AND_WORDS | OR_WORDS | NOT_WORDS | DIFF_WORDS

_AGE = re.compile(r"^(\d{1,5})([hdw])$")
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
# A word ends at white space, a parenthesis (ASCII or full-width) or an operator sign.
_STOP = set(" \t\r\n()\u3000（）!&|")


class AudienceSyntaxError(ValueError):
    """A malformed expression: `position` is the 0-based character offset, `expected` what would fit there."""

    def __init__(self, position: int, expected: str, found: str | None = None) -> None:
        self.position, self.expected, self.found = position, expected, found
        where = f"found {found!r}" if found else "found the end of the expression"
        super().__init__(f"at position {position}: expected {expected}, {where}")


@dataclass(frozen=True)
class Tag:
    name: str
    position: int


@dataclass(frozen=True)
class Filter:
    field: str
    op: str  # ":" for a value filter, else one of COMPARISONS
    value: str  # the text as written (dates: an ISO date or an age such as 30d)
    position: int

    def age(self) -> timedelta | None:
        match = _AGE.match(self.value)
        if match is None:
            return None
        amount, unit = int(match.group(1)), match.group(2)
        return timedelta(hours=amount) if unit == "h" else timedelta(days=amount * (7 if unit == "w" else 1))

    def day(self) -> date | None:
        match = _DATE.match(self.value)
        return date(*map(int, match.groups())) if match else None


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class And:
    items: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    items: tuple[Node, ...]


Node = Tag | Filter | Not | And | Or


@dataclass(frozen=True)
class _Token:
    kind: str  # word | string | lparen | rparen | end
    text: str
    position: int


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch.isspace():
            i += 1
        elif ch in "(（":
            out.append(_Token("lparen", ch, i))
            i += 1
        elif ch in ")）":
            out.append(_Token("rparen", ch, i))
            i += 1
        elif ch in "!&|":
            start = i
            i += 2 if ch != "!" and text[i:i + 2] == ch * 2 else 1
            out.append(_Token("word", text[start:i], start))
        elif ch in "\"'“‘":
            close = {"“": "”", "‘": "’"}.get(ch, ch)
            start, i, chars = i, i + 1, []
            while i < len(text) and text[i] != close:
                if text[i] == "\\" and i + 1 < len(text):
                    i += 1
                chars.append(text[i])
                i += 1
            if i >= len(text):
                raise AudienceSyntaxError(len(text), f"the closing {close} of the name opened at position {start}")
            out.append(_Token("string", "".join(chars), start))
            i += 1
        else:
            start = i
            while i < len(text) and text[i] not in _STOP:
                i += 1
            out.append(_Token("word", text[start:i], start))
    out.append(_Token("end", "", len(text)))
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.at = 0
        self.depth = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.at]

    def is_op(self, words: frozenset[str]) -> bool:
        return self.token.kind == "word" and self.token.text.lower() in words

    def fail(self, expected: str) -> AudienceSyntaxError:
        token = self.token
        return AudienceSyntaxError(token.position, expected, token.text if token.kind != "end" else None)

    def expression(self) -> Node:  # OR level
        items = [self.term()]
        while self.is_op(OR_WORDS):
            self.at += 1
            items.append(self.term())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def term(self) -> Node:  # AND / difference level
        node = self.factor()
        items = [node]
        while self.is_op(AND_WORDS | DIFF_WORDS):
            negate = self.is_op(DIFF_WORDS)
            self.at += 1
            right = self.factor()
            items.append(Not(right) if negate else right)
        return items[0] if len(items) == 1 else And(tuple(items))

    def factor(self) -> Node:
        token = self.token
        if self.is_op(NOT_WORDS):
            self.at += 1
            self._nest(token)
            item = self.factor()
            self.depth -= 1
            return item.item if isinstance(item, Not) else Not(item)
        if token.kind == "lparen":
            self.at += 1
            self._nest(token)
            inner = self.expression()
            self.depth -= 1
            if self.token.kind != "rparen":
                raise self.fail(f"AND, OR or the ')' closing the '(' at position {token.position}")
            self.at += 1
            return inner
        if token.kind == "string":
            self.at += 1
            if not token.text.strip():
                raise AudienceSyntaxError(token.position, "a tag name inside the quotes", '""')
            return Tag(token.text.strip(), token.position)
        if token.kind == "word" and token.text.lower() not in OPERATOR_WORDS:
            self.at += 1
            return self._word(token)
        raise self.fail("a tag name, a filter (such as channel:wechat), NOT or '('")

    def _nest(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise AudienceSyntaxError(token.position, f"at most {MAX_DEPTH} nested parentheses or NOTs", token.text)

    def _word(self, token: _Token) -> Node:
        text, position = token.text, token.position
        match = re.match(r"^([A-Za-z_]+)(>=|<=|:|>|<|=)(.*)$", text)
        if match is None or match.group(1).lower() not in (*FILTERS, *DATE_FIELDS):
            return Tag(text, position)
        field, op, value = match.group(1).lower(), match.group(2), match.group(3)
        value_at = position + len(match.group(1)) + len(op)
        if field in DATE_FIELDS:
            if op == ":":
                raise AudienceSyntaxError(position + len(field),
                                          f"a comparison after {field} ({' '.join(COMPARISONS)})", op)
            node = Filter(field, op, value, position)
            if _DATE.match(value) is None and node.age() is None:
                raise AudienceSyntaxError(value_at, "a date such as 2026-11-01 or an age such as 30d, 12h or 2w",
                                          value or None)
            try:
                node.day()
            except ValueError:
                raise AudienceSyntaxError(value_at, "a real calendar date (YYYY-MM-DD)", value) from None
            if op == "=" and node.age() is not None:
                raise AudienceSyntaxError(position + len(field), ">=, <=, > or < before an age", op)
            return node
        if op != ":":
            raise AudienceSyntaxError(position + len(field), f"':' after {field} (for example {field}:value)", op)
        allowed = FILTERS[field]
        if allowed is not None and value.lower() not in allowed:
            raise AudienceSyntaxError(value_at, f"{field}:{'|'.join(allowed)}", value or None)
        if not value:
            raise AudienceSyntaxError(value_at, f"a value after {field}:")
        return Filter(field, op, value.lower() if allowed is not None else value, position)


def parse(text: str) -> Node:
    """The expression's tree; AudienceSyntaxError (with the position) when it is malformed."""
    if len(text) > MAX_LENGTH:
        raise AudienceSyntaxError(MAX_LENGTH, f"an expression of at most {MAX_LENGTH} characters",
                                  text[MAX_LENGTH:][:20])
    parser = _Parser(text)
    if parser.token.kind == "end":
        raise parser.fail("a tag name or a filter")
    node = parser.expression()
    if parser.token.kind != "end":
        unmatched = parser.token.kind == "rparen"
        raise parser.fail("the end of the expression (this ')' closes nothing)" if unmatched else
                          "AND, OR or the end of the expression")
    return node


def tag_names(node: Node) -> list[tuple[str, int]]:
    """Every tag the expression names, with its position, in order."""
    if isinstance(node, Tag):
        return [(node.name, node.position)]
    if isinstance(node, Not):
        return tag_names(node.item)
    if isinstance(node, And | Or):
        return [pair for item in node.items for pair in tag_names(item)]
    return []
