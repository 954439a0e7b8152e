"""saved audiences (issue 21: the audience builder)

Revision ID: f1a2b3c4d5e6
Revises: e7b2c4d9a0f3
Create Date: 2026-12-05 00:10:00
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401


revision = 'f1a2b3c4d5e6'
down_revision = 'e7b2c4d9a0f3'
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
