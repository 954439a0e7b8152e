"""The knowledge base: entries in the database (`entries`), import and export files (`files`), the index the
FAQ bot searches (`index`: built by a job, swapped in whole by every process), and what the bot's decisions
change in it (`effects`: hit and unhelpful counts, proposals from unanswered questions)."""

from hub.kb.effects import apply_kb_effects
from hub.kb.entries import accept_proposal, export_rows, import_rows
from hub.kb.files import KbFileError, read_entries, write_entries
from hub.kb.index import KnowledgeBaseService, kb_service, rebuild_kb_index, request_rebuild
from hub.kb.models import KbEntry, KbProposal, KbTerm

__all__ = [
    "KbEntry", "KbFileError", "KbProposal", "KbTerm", "KnowledgeBaseService", "accept_proposal", "apply_kb_effects",
    "export_rows", "import_rows", "kb_service", "read_entries", "rebuild_kb_index", "request_rebuild",
    "write_entries",
]
