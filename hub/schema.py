"""Every table of the hub: the shared ones in hub.core and each feature's own, for Alembic and the tests."""

from hub.conversation import models as conversation_models
from hub.core import models as core_models
from hub.kb import models as kb_models
from hub.tags import models as tags_models
from hub.tickets import models as tickets_models

MODULES = (core_models, conversation_models, tickets_models, kb_models, tags_models)
