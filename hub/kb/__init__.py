"""The knowledge base: entries in the database (`entries`), import and export files (`files`), the index the
FAQ bot searches (`index`: built by a job, swapped in whole by every process), and what the bot's decisions
change in it (`effects`: hit and unhelpful counts, proposals from unanswered questions), what it learns from
agents' answers (`learning`) and the operators' decisions on proposals (`proposals`)."""

from hub.kb.effects import apply_kb_effects
from hub.kb.entries import accept_proposal, export_rows, import_rows
from hub.kb.files import KbFileError, read_entries, write_entries
from hub.kb.index import KnowledgeBaseService, kb_encoder, kb_service, rebuild_kb_index, request_rebuild
from hub.kb.learning import (
    agent_choices,
    candidates_for,
    entry_by_external_id,
    handoff_question,
    is_follow_up,
    learn_from_answer,
    propose_similar,
    ticket_question,
)
from hub.kb.models import KbEntry, KbProposal, KbSimilarProposal, KbTerm
from hub.kb.proposals import accept_new_entries, accept_similar, list_similar, reject_new_entries, reject_similar
from hub.kb.scope import ScopedKnowledgeBase, kb_categories, scoped

__all__ = [
    "KbEntry", "KbFileError", "KbProposal", "KbTerm", "KnowledgeBaseService", "accept_proposal", "apply_kb_effects",
    "export_rows", "import_rows", "kb_encoder", "kb_service", "read_entries", "rebuild_kb_index", "request_rebuild",
    "write_entries",
    # learning from agents (hub.kb.learning, hub.kb.proposals)
    "KbSimilarProposal", "accept_new_entries", "accept_similar", "agent_choices", "candidates_for",
    "entry_by_external_id", "handoff_question", "is_follow_up", "learn_from_answer", "list_similar",
    "propose_similar", "reject_new_entries", "reject_similar", "ticket_question",
    # one account's knowledge scope (hub.kb.scope)
    "ScopedKnowledgeBase", "kb_categories", "scoped",
]
