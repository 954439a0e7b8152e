"""semantic knowledge base: vectors, calibration, learned questions (issue 23)

Revision ID: f6a7b8c9d0e1
Revises: f5e6a7b8c9d0
Create Date: 2026-12-05 00:10:00
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401

revision = 'f6a7b8c9d0e1'
down_revision = 'f5e6a7b8c9d0'
branch_labels = None
depends_on = None


# Nothing to migrate: the sentence vectors (with the text hash each was computed from) and the thresholds
# calibrated per knowledge base travel inside the index blob (model_blob, kind "kb_index"), so a rebuild
# reuses the vectors of the active blob and the swap stays one row. Older lexical blobs still load.


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
