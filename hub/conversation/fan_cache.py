"""Which fan an identity belongs to changes when fans are merged or an identity is split off. Processes cache
identity → fan (hub.intake.accept, on the webhook path); a generation number in Redis, bumped by every such
change, tells every process to drop those caches. A process asks Redis at most every CHECK_SECONDS (a round
trip per message would cost the webhook more than the cache saves); without Redis a cache lives TTL_SECONDS.

The cache is only a shortcut: a message stored in that moment with the fan it had before is put on the right
fan by its worker (hub.conversation.identity.settle_fan), so nothing lands on a merged fan for good.
"""

from __future__ import annotations

import contextlib
import time

import redis

from hub.core.state import HubState

GENERATION_KEY = "hub:fans:generation"
CHECK_SECONDS = 0.1
TTL_SECONDS = 5.0
_SEEN = "fan_generation"  # state.caches: (checked at, generation)


def _ask(state: HubState) -> str:
    try:
        value = state.redis.get(GENERATION_KEY)
    except redis.RedisError:
        return f"no-redis:{int(time.monotonic() // TTL_SECONDS)}"  # changes every TTL_SECONDS
    return value.decode() if isinstance(value, bytes) else str(value or "0")


def fan_generation(state: HubState) -> str:
    """The generation of identity → fan this process may serve its caches for (asked at most every CHECK_SECONDS)."""
    now = time.monotonic()
    checked, generation = state.caches.get(_SEEN, (-1.0, ""))
    if now - checked >= CHECK_SECONDS:
        generation = _ask(state)
        state.caches[_SEEN] = (now, generation)
    return generation


def fans_changed(state: HubState) -> None:
    """After a merge or a split committed: every process drops its identity → fan caches (this one at once)."""
    with contextlib.suppress(redis.RedisError):  # without Redis the others expire their caches within TTL_SECONDS
        state.redis.incr(GENERATION_KEY)
    state.caches.pop(_SEEN, None)
    state.caches.pop("fan_refs", None)
