"""daily aggregates the dashboards read (issue 21)

Revision ID: f2b3c4d5e6a7
Revises: f1a2b3c4d5e6
Create Date: 2026-12-05 00:10:00
"""
from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision = 'f2b3c4d5e6a7'
down_revision = 'f1a2b3c4d5e6'
branch_labels = None
depends_on = None


def _day_table(name: str, keys: list[sa.Column], figures: list[str]) -> None:
    op.create_table(
        name,
        *keys,
        *(sa.Column(f, sa.Integer(), nullable=False) for f in figures),
        sa.PrimaryKeyConstraint(*(k.name for k in keys)),
    )


def upgrade() -> None:
    _day_table("report_message_day",
               [sa.Column("day", sa.Date(), nullable=False), sa.Column("account_id", sa.Integer(), nullable=False),
                sa.Column("final", sa.Boolean(), nullable=False)],
               ["messages_in", "messages_out", "fan_messages", "answered", "suggested", "handed_off",
                "agent_replies"])
    _day_table("report_subscribe_day",
               [sa.Column("day", sa.Date(), nullable=False), sa.Column("account_id", sa.Integer(), nullable=False),
                sa.Column("scene", sa.String(length=128), nullable=False),
                sa.Column("final", sa.Boolean(), nullable=False)],
               ["subscribed", "unsubscribed"])
    _day_table("report_interest_day",
               [sa.Column("day", sa.Date(), nullable=False), sa.Column("account_id", sa.Integer(), nullable=False),
                sa.Column("tag", sa.String(length=64), nullable=False),
                sa.Column("final", sa.Boolean(), nullable=False)],
               ["messages"])
    op.create_table(
        "report_ticket_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("first_responses", sa.Integer(), nullable=False),
        sa.Column("first_response_seconds", sa.Float(), nullable=False),
        sa.Column("resolution_seconds", sa.Float(), nullable=False),
        sa.Column("first_response_breaches", sa.Integer(), nullable=False),
        sa.Column("resolution_breaches", sa.Integer(), nullable=False),
        *(sa.Column(f"csat_{n}", sa.Integer(), nullable=False) for n in range(1, 6)),
        sa.PrimaryKeyConstraint("day", "account_id"),
    )
    op.create_table(
        "report_interest_snapshot",
        sa.Column("week", sa.Date(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("fans", sa.Integer(), nullable=False),
        sa.Column("taken_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("week", "account_id", "tag_id"),
    )
    op.create_table(
        "report_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("tickets_from", sa.Date(), nullable=True),
        sa.Column("snapshot_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("utc_offset_minutes", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    for name in ("report_state", "report_interest_snapshot", "report_ticket_day", "report_interest_day",
                 "report_subscribe_day", "report_message_day"):
        op.drop_table(name)
