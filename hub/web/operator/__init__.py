"""The community operator's workspace: interest tags (`tags`), audiences built from tag algebra (`audiences`),
labelling messages and training the tagger (`labelling`), auto-reply rules (`rules`), the knowledge base (`kb`)
and dashboards (`dashboards`). Operators and admins only; an agent gets 403."""

from hub.web.operator import audiences, dashboards, kb, labelling, rules, tags  # noqa: F401  (routes register on bp)
from hub.web.operator.blueprint import bp

__all__ = ["bp"]
