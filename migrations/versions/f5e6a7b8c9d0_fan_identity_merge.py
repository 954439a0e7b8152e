"""one fan across channels: merge, split, CRM id (issue 22)

A fan gains a CRM id (unique, optional) and `merged_into_id`: a fan merged into another stays as a tombstone
pointing at it. An identity remembers the WeChat unionid it came with and when user/info was last asked.
`fanevent` logs merges, splits and CRM ids (who, when, what moved). A person has one active ticket across
all accounts (uq_ticket_active_fan on fan_id alone): where older data has several, the newest stays active and
the others are closed as merged into it.

Revision ID: f5e6a7b8c9d0
Revises: f4d5e6a7b8c9
Create Date: 2026-12-05 00:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = 'f5e6a7b8c9d0'
down_revision = 'f4d5e6a7b8c9'
branch_labels = None
depends_on = None
_ACTIVE = sa.text("status IN ('open', 'assigned', 'waiting')")


def upgrade() -> None:
    with op.batch_alter_table('fan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('crm_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_fan_crm_id'), ['crm_id'], unique=True)
        batch_op.create_index(batch_op.f('ix_fan_merged_into_id'), ['merged_into_id'], unique=False)
        batch_op.create_foreign_key('fk_fan_merged_into_id_fan', 'fan', ['merged_into_id'], ['id'])
    with op.batch_alter_table('identity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unionid', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=True))
        batch_op.add_column(sa.Column('info_checked_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
    op.create_table(
        'fanevent',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column('fan_id', sa.Integer(), nullable=False),
        sa.Column('other_fan_id', sa.Integer(), nullable=True),
        sa.Column('identity_id', sa.Integer(), nullable=True),
        sa.Column('actor_id', sa.Integer(), nullable=True),
        sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column('data', sa.JSON(), nullable=True),
        sa.Column('created_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['actor_id'], ['user.id'], ),
        sa.ForeignKeyConstraint(['fan_id'], ['fan.id'], ),
        sa.ForeignKeyConstraint(['identity_id'], ['identity.id'], ),
        sa.ForeignKeyConstraint(['other_fan_id'], ['fan.id'], ),
        sa.PrimaryKeyConstraint('id'),
    )
    with op.batch_alter_table('fanevent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_fanevent_fan_id'), ['fan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_fanevent_other_fan_id'), ['other_fan_id'], unique=False)
    conn = op.get_bind()
    rows = conn.execute(sa.text("SELECT id, fan_id FROM ticket WHERE status IN ('open', 'assigned', 'waiting')"
                                " ORDER BY fan_id, id DESC")).all()
    newest: dict[int, int] = {}
    for ticket_id, fan_id in rows:
        keep = newest.setdefault(fan_id, ticket_id)
        if keep != ticket_id:
            conn.execute(sa.text("UPDATE ticket SET status = 'closed', merged_into_id = :keep WHERE id = :id"),
                         {"keep": keep, "id": ticket_id})
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('uq_ticket_active_fan')
        batch_op.create_index('uq_ticket_active_fan', ['fan_id'], unique=True,
                              sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)


def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('uq_ticket_active_fan')
        batch_op.create_index('uq_ticket_active_fan', ['account_id', 'fan_id'], unique=True,
                              sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)
    with op.batch_alter_table('fanevent', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fanevent_other_fan_id'))
        batch_op.drop_index(batch_op.f('ix_fanevent_fan_id'))
    op.drop_table('fanevent')
    with op.batch_alter_table('identity', schema=None) as batch_op:
        batch_op.drop_column('info_checked_at')
        batch_op.drop_column('unionid')
    with op.batch_alter_table('fan', schema=None) as batch_op:
        batch_op.drop_constraint('fk_fan_merged_into_id_fan', type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_fan_merged_into_id'))
        batch_op.drop_index(batch_op.f('ix_fan_crm_id'))
        batch_op.drop_column('merged_into_id')
        batch_op.drop_column('crm_id')
