"""knowledge base learning from agents: proposed similar questions (issue 23)

Revision ID: f7b8c9d0e1f2
Revises: f6a7b8c9d0e1
Create Date: 2026-12-05 00:10:00
"""
from __future__ import annotations

import sqlalchemy as sa  # noqa: F401
import sqlmodel  # noqa: F401
from alembic import op  # noqa: F401


revision = 'f7b8c9d0e1f2'
down_revision = 'f6a7b8c9d0e1'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'kbsimilarproposal',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('entry_id', sa.Integer(), nullable=False),
        sa.Column('question', sa.Text(), nullable=False),
        sa.Column('question_key', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column('message_id', sa.Integer(), nullable=True),
        sa.Column('ticket_id', sa.Integer(), nullable=True),
        sa.Column('reply_id', sa.Integer(), nullable=True),
        sa.Column('agent_id', sa.Integer(), nullable=True),
        sa.Column('source', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('decided_by', sa.Integer(), nullable=True),
        sa.Column('decided_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['entry_id'], ['kbentry.id'], ),
        sa.ForeignKeyConstraint(['message_id'], ['message.id'], ),
        sa.ForeignKeyConstraint(['reply_id'], ['message.id'], ),
        sa.ForeignKeyConstraint(['agent_id'], ['user.id'], ),
        sa.ForeignKeyConstraint(['decided_by'], ['user.id'], ),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('entry_id', 'question_key', name='uq_kbsimilarproposal_entry_question'),
    )
    with op.batch_alter_table('kbsimilarproposal', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_kbsimilarproposal_entry_id'), ['entry_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_kbsimilarproposal_status'), ['status'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('kbsimilarproposal', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_kbsimilarproposal_status'))
        batch_op.drop_index(batch_op.f('ix_kbsimilarproposal_entry_id'))
    op.drop_table('kbsimilarproposal')
