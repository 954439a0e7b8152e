"""one fan across channels: merge, split, CRM id (issue 22)

Revision ID: f5e6a7b8c9d0
Revises: f4d5e6a7b8c9
Create Date: 2026-12-05 00:10:00
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401


revision = 'f5e6a7b8c9d0'
down_revision = 'f4d5e6a7b8c9'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
