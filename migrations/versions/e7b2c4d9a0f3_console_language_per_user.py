"""console language per user

The consoles speak Chinese by default; a user may choose English (user.locale).

Revision ID: e7b2c4d9a0f3
Revises: d5a8e3c7f912
Create Date: 2026-12-04 22:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = 'e7b2c4d9a0f3'
down_revision = 'd5a8e3c7f912'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('locale', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('locale')
