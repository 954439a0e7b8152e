"""What a ticket change asks for once its transaction has committed: routing jobs, sends, live updates.

Ticket functions take a session and an `Effects`; they only write the database. The caller commits and
then calls `hub.tickets.jobs.run_effects`, so a job never runs before the change it acts on is visible, and a
rolled-back change enqueues nothing. What fails to reach Redis is not lost: the tickets tick
(hub.tickets.jobs.tick) routes every waiting ticket and the intake sweeper enqueues every queued outbound message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hub.core.live import changes_since, publish

__all__ = ["WAKE_KEY", "Effects", "changes_since", "publish"]

WAKE_KEY = "hub:tickets:wake"  # bumped whenever capacity frees: a running route_waiting pass goes round again


@dataclass
class Effects:
    route: set[int] = field(default_factory=set)  # tickets to route (route_ticket jobs)
    wake: bool = False  # capacity freed: route the waiting tickets (route_waiting job)
    send: list[int] = field(default_factory=list)  # outbound messages to deliver (send_message jobs)
    resolved: list[int] = field(default_factory=list)  # tickets just resolved: their survey (survey jobs)
    live: list[dict[str, Any]] = field(default_factory=list)  # updates for the consoles

    def changed(self, ticket_id: int, what: str, **data: Any) -> None:
        self.live.append({"type": what, "ticket_id": ticket_id, **data})
