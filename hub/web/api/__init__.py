"""The REST API under /api/v1, one module per resource: `base` (the blueprint, roles, the OpenAPI document,
stats and tickets), `kb` (suggestions, agent replies, proposals) and `tags` (taxonomy, profiles, examples,
training)."""

from hub.web.api import kb, tags
from hub.web.api.base import bp

__all__ = ["bp", "kb", "tags"]
