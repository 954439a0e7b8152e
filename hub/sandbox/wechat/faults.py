"""Fault injection: make the next N calls of an API endpoint fail with an errcode or an HTTP status."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any


@dataclass
class Fault:
    endpoint: str  # path under /cgi-bin/, e.g. "token" or "message/custom/send"
    remaining: int
    errcode: int = -1
    errmsg: str | None = None
    http_status: int | None = None  # if set, answer with this HTTP status instead of an errcode body
    delay_s: float = 0.0  # sleep before answering (to exercise client timeouts)
    appid: str | None = None  # only calls made for this app (None: any app)

    def as_dict(self) -> dict[str, Any]:
        return {
            "endpoint": self.endpoint,
            "remaining": self.remaining,
            "errcode": self.errcode,
            "errmsg": self.errmsg,
            "http_status": self.http_status,
            "delay_s": self.delay_s,
            "appid": self.appid,
        }


class FaultPlan:
    """Thread-safe queue of faults; each matching call consumes one unit of the first matching fault."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        if fault.remaining < 1:
            raise ValueError("count must be at least 1")
        if fault.http_status is not None and not 400 <= fault.http_status <= 599:
            raise ValueError("http_status must be between 400 and 599")
        if fault.delay_s < 0 or fault.delay_s > 60:
            raise ValueError("delay_s must be between 0 and 60")
        with self._lock:
            self._faults.append(fault)

    def take(self, endpoint: str, appid: str | None) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.endpoint == endpoint and (fault.appid is None or fault.appid == appid):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
