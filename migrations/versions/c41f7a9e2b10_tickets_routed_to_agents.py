"""tickets routed to agents

Teams, agents (capacity, presence, load), the ticket's event log and messages, canned replies and
notifications; tickets gain priority, subject, channel, team, SLA times, CSAT. At most one active
(open, assigned, waiting) ticket per fan and account: where older data has several, the newest stays
active and the others are closed as merged into it.

Revision ID: c41f7a9e2b10
Revises: a2fe962d0f6e
Create Date: 2026-12-04 21:50:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op


revision = 'c41f7a9e2b10'
down_revision = 'a2fe962d0f6e'
branch_labels = None
depends_on = None

_ACTIVE = sa.text("status IN ('open', 'assigned', 'waiting')")
_UTC = sqlmodel.sql.sqltypes.UTCDateTime
_STR = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    op.create_table('cannedreply',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('shortcut', _STR(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', _UTC(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('shortcut')
    )
    op.create_table('agent',
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('capacity', sa.Integer(), nullable=False),
    sa.Column('load', sa.Integer(), nullable=False),
    sa.Column('status', _STR(length=16), nullable=False),
    sa.Column('status_by_heartbeat', sa.Boolean(), nullable=False),
    sa.Column('last_seen_at', _UTC(), nullable=True),
    sa.Column('last_assigned_at', _UTC(), nullable=True),
    sa.Column('created_at', _UTC(), nullable=False),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('user_id')
    )
    op.create_table('team',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', _STR(length=64), nullable=False),
    sa.Column('skills', sa.JSON(), nullable=True),
    sa.Column('lead_id', sa.Integer(), nullable=True),
    sa.Column('created_at', _UTC(), nullable=False),
    sa.ForeignKeyConstraint(['lead_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('teammember',
    sa.Column('team_id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['team_id'], ['team.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('team_id', 'user_id')
    )
    with op.batch_alter_table('teammember', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_teammember_user_id'), ['user_id'], unique=False)

    op.create_table('notification',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=True),
    sa.Column('kind', _STR(length=32), nullable=False),
    sa.Column('text', _STR(length=500), nullable=False),
    sa.Column('created_at', _UTC(), nullable=False),
    sa.Column('read_at', _UTC(), nullable=True),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_notification_user_id'), ['user_id'], unique=False)

    op.create_table('ticketevent',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('kind', _STR(length=32), nullable=False),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('data', sa.JSON(), nullable=True),
    sa.Column('created_at', _UTC(), nullable=False),
    sa.ForeignKeyConstraint(['actor_id'], ['user.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('ticketevent', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketevent_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('ticketmessage',
    sa.Column('message_id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['message.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ),
    sa.PrimaryKeyConstraint('message_id')
    )
    with op.batch_alter_table('ticketmessage', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticketmessage_ticket_id'), ['ticket_id'], unique=False)

    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('priority', sa.Integer(), nullable=False, server_default='2'))
        batch_op.add_column(sa.Column('subject', _STR(length=200), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('channel', _STR(length=32), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('source', _STR(length=16), nullable=False, server_default='bot'))
        batch_op.add_column(sa.Column('team_id', sa.Integer(), nullable=True))
        for name in ('first_response_due', 'resolution_due', 'paused_at', 'first_response_at'):
            batch_op.add_column(sa.Column(name, _UTC(), nullable=True))
        batch_op.add_column(sa.Column('sla_warned', sa.JSON(), nullable=True))
        for name in ('first_response_breached_at', 'resolution_breached_at', 'escalated_at', 'last_fan_message_at',
                     'resolved_at', 'closed_at'):
            batch_op.add_column(sa.Column(name, _UTC(), nullable=True))
        batch_op.add_column(sa.Column('merged_into_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('csat_requested_at', _UTC(), nullable=True))
        batch_op.add_column(sa.Column('csat_score', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('csat_comment', _STR(length=500), nullable=True))
        batch_op.drop_index(batch_op.f('ix_ticket_status'))
        batch_op.create_index('ix_ticket_assignee_status', ['assignee_id', 'status'], unique=False)
        batch_op.create_index('ix_ticket_status_priority', ['status', 'priority', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_team_id'), ['team_id'], unique=False)
        batch_op.create_foreign_key('fk_ticket_team_id_team', 'team', ['team_id'], ['id'])
        batch_op.create_foreign_key('fk_ticket_merged_into_id_ticket', 'ticket', ['merged_into_id'], ['id'])

    conn = op.get_bind()
    # Earlier tickets were assigned to nobody; their messages were only noted on the message (meta).
    conn.execute(sa.text("UPDATE ticket SET status = 'open' WHERE status = 'assigned' AND assignee_id IS NULL"))
    rows = conn.execute(sa.text("SELECT id, account_id, fan_id FROM ticket WHERE status IN ('open', 'assigned')"
                                " ORDER BY account_id, fan_id, id DESC")).all()
    newest: dict[tuple[int, int], int] = {}
    for ticket_id, account_id, fan_id in rows:
        keep = newest.setdefault((account_id, fan_id), ticket_id)
        if keep != ticket_id:
            conn.execute(sa.text("UPDATE ticket SET status = 'closed', merged_into_id = :keep WHERE id = :id"),
                         {"keep": keep, "id": ticket_id})
    conn.execute(sa.text("UPDATE ticket SET subject = '', sla_warned = '[]'"))
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.create_index('uq_ticket_active_fan', ['account_id', 'fan_id'], unique=True,
                              sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)
        for name in ('priority', 'subject', 'channel', 'source'):
            batch_op.alter_column(name, server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_constraint('fk_ticket_merged_into_id_ticket', type_='foreignkey')
        batch_op.drop_constraint('fk_ticket_team_id_team', type_='foreignkey')
        batch_op.drop_index('uq_ticket_active_fan')
        batch_op.drop_index(batch_op.f('ix_ticket_team_id'))
        batch_op.drop_index('ix_ticket_status_priority')
        batch_op.drop_index('ix_ticket_assignee_status')
        batch_op.create_index(batch_op.f('ix_ticket_status'), ['status'], unique=False)
        for name in ('csat_comment', 'csat_score', 'csat_requested_at', 'merged_into_id', 'closed_at', 'resolved_at',
                     'last_fan_message_at', 'escalated_at', 'resolution_breached_at', 'first_response_breached_at',
                     'sla_warned', 'first_response_at', 'paused_at', 'resolution_due', 'first_response_due',
                     'team_id', 'source', 'channel', 'subject', 'priority'):
            batch_op.drop_column(name)
    for table in ('ticketmessage', 'ticketevent', 'notification', 'teammember', 'team', 'agent', 'cannedreply'):
        op.drop_table(table)
