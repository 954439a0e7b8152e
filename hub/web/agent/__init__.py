"""The agent's workspace in the browser: the queue, a ticket's conversation with the fan beside it, the reply box,
live updates.

`views` has the pages (the queue, the ticket), `queue` the queue's data, `thread` the fan's history, `fan` the fan
column (and its manual tags), `replybox` what the reply box and the actions may do, `live` the polling endpoint and
the notifications, `present` the labels and timers, `guard` who may come in (agents and admins)."""

from hub.web.agent import fan, live, views  # noqa: F401  (their routes register on the blueprint)
from hub.web.agent.blueprint import bp

__all__ = ["bp"]
