"""The community operator's workspace: interest tags (`tags`), audiences built from tag algebra (`audiences`),
labelling messages and training the tagger (`labelling`), auto-reply rules (`rules`), the knowledge base (`kb`)
and dashboards (`dashboards`). Operators and admins only; an agent gets 403."""

from hub.web.operator import (  # noqa: F401  (routes register on bp)
    audiences,
    dashboards,
    fans,
    kb,
    kb_proposals,
    labelling,
    rules,
    tags,
)
from hub.web.operator.blueprint import bp

__all__ = ["bp"]
