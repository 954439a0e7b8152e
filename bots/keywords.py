"""Keyword auto-reply: exact, contains or regex rules, highest priority first."""

from __future__ import annotations

import re
from functools import lru_cache

from bots.base import CONTAINS, EXACT, REGEX, BotContext, Decision, KeywordRule, Reply
from channels.base import InboundMessage

SOURCE = "keyword"
MAX_SCAN_CHARS = 2000  # regexes run on a bounded prefix so a 10,000-character message stays cheap


@lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error:
        return None  # rules are validated on save; a bad one never matches rather than breaking replies


def matches(rule: KeywordRule, text: str) -> bool:
    body = text.strip()
    if rule.match == EXACT:
        return body.casefold() == rule.pattern.strip().casefold()
    if rule.match == CONTAINS:
        return rule.pattern.casefold() in body.casefold()
    if rule.match == REGEX:
        compiled = _compiled(rule.pattern)
        return bool(compiled and compiled.search(body[:MAX_SCAN_CHARS]))
    return False


def ordered(rules: tuple[KeywordRule, ...] | list[KeywordRule]) -> list[KeywordRule]:
    # Higher priority first; among equals exact beats contains beats regex, then the older rule.
    rank = {EXACT: 0, CONTAINS: 1, REGEX: 2}
    return sorted(rules, key=lambda r: (-r.priority, rank.get(r.match, 3), r.id))


def keyword_bot(message: InboundMessage, context: BotContext) -> Decision:
    if message.is_event or not message.text.strip():
        return None
    for rule in ordered(list(context.rules.keywords)):
        if matches(rule, message.text):
            return Reply(rule.reply, SOURCE, {"rule_id": rule.id})
    return None
