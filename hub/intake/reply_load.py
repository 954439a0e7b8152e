"""How busy a web process is deciding passive replies: the seconds its reply threads spent on decisions in
about the last second (an exponentially decaying sum).

A semantic decision costs one sentence encoding (~20 ms of CPU, one at a time per process). Past ~50
messages a second per process the decisions alone would need more than a core: requests would queue in
the listen backlog, where no timeout sees them, and every reply — passive or not — would be late. Above
`MAX_SHARE` the webhook leaves the decision to the worker (which answers through the channel's API), so
the webhook's own answer stays within milliseconds however many fans write at once.
"""

from __future__ import annotations

import math
import threading
import time

MAX_SHARE = 0.5  # decision-seconds per second (of one process) above which new decisions go to the worker
TAU = 1.0  # seconds: the window of the decaying sum


class DecisionLoad:
    def __init__(self, max_share: float | None = None, tau: float = TAU) -> None:
        self.max_share = max_share  # None: MAX_SHARE
        self.tau = tau
        self._lock = threading.Lock()
        self._load = 0.0
        self._at = time.monotonic()

    def _decayed(self, now: float) -> float:
        return self._load * math.exp(-(now - self._at) / self.tau)

    def add(self, seconds: float) -> None:
        """A decision that took `seconds` (from submission to result) just finished."""
        with self._lock:
            now = time.monotonic()
            self._load = self._decayed(now) + seconds
            self._at = now

    def share(self) -> float:
        """Decision-seconds per second lately."""
        with self._lock:
            return self._decayed(time.monotonic()) / self.tau

    def overloaded(self) -> bool:
        return self.share() > (MAX_SHARE if self.max_share is None else self.max_share)
