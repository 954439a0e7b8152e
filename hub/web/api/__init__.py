"""The REST API under /api/v1, one module per resource: `base` (the blueprint, roles, errors, `endpoint` to
declare a route with pydantic models, the OpenAPI document spectree generates from them, stats),
`tickets` (the queue, a ticket, the work on it), `people` (agents, teams, notifications, canned replies), `kb`
(suggestions, agent replies, proposals), `kb_learning` (the entry an agent chose, proposals decided in bulk)
and `tags` (taxonomy, profiles, examples, training)."""

from hub.web.api import audiences, dashboards, fans, kb, kb_learning, people, tags, tickets
from hub.web.api.base import bp

__all__ = ["audiences", "bp", "dashboards", "fans", "kb", "kb_learning", "people", "tags", "tickets"]
