"""Auto-reply rules: stored per account, loaded into a `RuleBook` for the bots, cached per process.

A change bumps a version number in Redis so every process reloads; without Redis a short TTL bounds staleness.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Sequence

import redis
from sqlmodel import Session, select

from bots.base import MATCH_MODES, KeywordRule, RuleBook
from hub.conversation.models import RULE_KINDS, Rule
from hub.core.state import HubState

_VERSION_KEY = "hub:rules:version"
_TTL_SECONDS = 5.0


class RuleError(ValueError):
    """A rule that cannot be saved, with what to change."""


def validate(kind: str, match: str, pattern: str, reply: str) -> None:
    if kind not in RULE_KINDS:
        raise RuleError(f"unknown rule kind {kind!r}; use one of {', '.join(RULE_KINDS)}")
    if not reply.strip():
        raise RuleError("the reply text is empty; give the text the fan should receive")
    if len(reply) > 2000:
        raise RuleError("the reply is longer than WeChat's 2,048-byte text limit allows; shorten it")
    if kind in ("keyword", "menu") and not pattern.strip():
        raise RuleError(f"a {kind} rule needs a pattern (the keyword or the menu key)")
    if kind == "keyword":
        if match not in MATCH_MODES:
            raise RuleError(f"unknown match mode {match!r}; use one of {', '.join(MATCH_MODES)}")
        if match == "regex":
            try:
                re.compile(pattern)
            except re.error as exc:
                raise RuleError(f"the regular expression does not compile: {exc}") from exc


def build_rulebook(rules: Sequence[Rule]) -> RuleBook:
    keywords, menu, by_scene = [], {}, {}
    welcome = default = None
    for rule in sorted(rules, key=lambda r: (-r.priority, r.id or 0)):
        if not rule.enabled:
            continue
        if rule.kind == "keyword":
            keywords.append(KeywordRule(rule.id or 0, rule.pattern, rule.match, rule.reply, rule.priority))
        elif rule.kind == "menu":
            menu.setdefault(rule.pattern, rule.reply)
        elif rule.kind == "welcome" and rule.pattern:
            by_scene.setdefault(rule.pattern, rule.reply)
        elif rule.kind == "welcome":
            welcome = welcome or rule.reply
        elif rule.kind == "default":
            default = default or rule.reply
    return RuleBook(tuple(keywords), welcome, by_scene, menu, default)


def _version(state: HubState) -> str | None:
    try:
        value = state.redis.get(_VERSION_KEY)
    except redis.RedisError:
        return None
    return value.decode() if value else "0"


def _cached_version(state: HubState) -> str | None:
    """The rules version, asked of Redis at most once a second per process (a change shows within ~1 s)."""
    now = time.monotonic()
    checked, version = state.caches.get("rules_version", (-1.0, None))
    if now - checked >= 1.0:
        version = _version(state)
        state.caches["rules_version"] = (now, version)
    return version


def rulebook_for(state: HubState, account_id: int) -> RuleBook:
    cache: dict[int, tuple[str | None, float, RuleBook]] = state.caches.setdefault("rulebooks", {})
    version = _cached_version(state)
    cached = cache.get(account_id)
    now = time.monotonic()
    if cached and cached[0] == version and (version is not None or now - cached[1] < _TTL_SECONDS):
        return cached[2]
    with Session(state.engine) as session:
        rules = session.exec(select(Rule).where(Rule.account_id == account_id)).all()
    book = build_rulebook(rules)
    cache[account_id] = (version, now, book)
    return book


def rules_changed(state: HubState) -> None:
    state.caches.pop("rulebooks", None)
    state.caches.pop("rules_version", None)
    with contextlib.suppress(redis.RedisError):  # without Redis, other processes pick it up within the TTL
        state.redis.incr(_VERSION_KEY)


def which_rule(rules: Sequence[Rule], text: str) -> tuple[Rule | None, str]:
    """Which of these rules answers a fan's text, as the bots would decide it: (the rule, "keyword"); else the
    default rule with "default" (it answers only if the knowledge base does not); else (None, "none")."""
    from bots.keywords import matches, ordered

    book = build_rulebook(rules)
    by_id = {rule.id: rule for rule in rules}
    if text.strip():
        for keyword in ordered(list(book.keywords)):
            if matches(keyword, text):
                return by_id[keyword.id], "keyword"
    default = next((r for r in sorted(rules, key=lambda r: (-r.priority, r.id or 0))
                    if r.enabled and r.kind == "default"), None)
    return (default, "default") if default is not None and text.strip() else (None, "none")
