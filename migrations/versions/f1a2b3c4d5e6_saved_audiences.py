"""saved audiences (issue 21: the audience builder)

Saved audience expressions, and a partial index of active fan tags by (tag, fan) so that an audience's tags are
sorted id ranges (hub.tags.audience_query).

Revision ID: f1a2b3c4d5e6
Revises: e7b2c4d9a0f3
Create Date: 2026-12-05 00:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'f1a2b3c4d5e6'
down_revision = 'e7b2c4d9a0f3'
branch_labels = None
depends_on = None

_UTC = sqlmodel.sql.sqltypes.UTCDateTime


def upgrade() -> None:
    op.create_table(
        'savedaudience',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column('expression', sa.Text(), nullable=False),
        sa.Column('description', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False),
        sa.Column('created_by', sa.Integer(), nullable=True),
        sa.Column('last_count', sa.Integer(), nullable=True),
        sa.Column('last_counted_at', _UTC(), nullable=True),
        sa.Column('created_at', _UTC(), nullable=False),
        sa.Column('updated_at', _UTC(), nullable=False),
        sa.ForeignKeyConstraint(['created_by'], ['user.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.create_index('ix_fantag_active_tag_fan', 'fantag', ['tag_id', 'fan_id'], unique=False,
                    sqlite_where=sa.text('active = 1'), postgresql_where=sa.text('active = true'))


def downgrade() -> None:
    op.drop_index('ix_fantag_active_tag_fan', table_name='fantag',
                  sqlite_where=sa.text('active = 1'), postgresql_where=sa.text('active = true'))
    op.drop_table('savedaudience')
