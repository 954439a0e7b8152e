"""one fan per unionid

A unionid names one person across a brand's accounts, so it now names one fan: the index on fan.unionid
becomes unique, and the first-contact path relies on it when two accounts hear from the same person at
the same moment. Fans that such a race split before are merged first, into the oldest: identities,
messages and tickets move; tags move unless the kept fan has the same tag (a manual tag wins); the
merged fan's interest profile is dropped (`hub tags retag` recomputes the kept fan's from all its
messages).

Revision ID: a2fe962d0f6e
Revises: 6826db8fd79c
Create Date: 2026-11-23 06:30:19.405165
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from alembic import op


revision = 'a2fe962d0f6e'
down_revision = '6826db8fd79c'
branch_labels = None
depends_on = None


log = logging.getLogger("alembic.runtime.migration")
_MOVED_WITH_THE_FAN = ("identity", "message", "ticket")


def _merge(conn: sa.Connection, keep: int, other: int) -> None:
    for table in _MOVED_WITH_THE_FAN:
        conn.execute(sa.text(f"UPDATE {table} SET fan_id = :keep WHERE fan_id = :other"),
                     {"keep": keep, "other": other})
    tags = conn.execute(sa.text("SELECT id, tag_id, source FROM fantag WHERE fan_id = :other"), {"other": other}).all()
    for row_id, tag_id, source in tags:
        kept = conn.execute(sa.text("SELECT id, source FROM fantag WHERE fan_id = :keep AND tag_id = :tag"),
                            {"keep": keep, "tag": tag_id}).first()
        if kept is not None and (source != "manual" or kept.source == "manual"):
            conn.execute(sa.text("DELETE FROM fantag WHERE id = :id"), {"id": row_id})
            continue
        if kept is not None:
            conn.execute(sa.text("DELETE FROM fantag WHERE id = :id"), {"id": kept.id})
        conn.execute(sa.text("UPDATE fantag SET fan_id = :keep WHERE id = :id"), {"keep": keep, "id": row_id})
    conn.execute(sa.text("DELETE FROM fanprofile WHERE fan_id = :other"), {"other": other})
    times = conn.execute(sa.text("SELECT min(created_at), max(last_seen_at) FROM fan WHERE id IN (:keep, :other)"),
                         {"keep": keep, "other": other}).one()
    conn.execute(sa.text("UPDATE fan SET created_at = :created, last_seen_at = :seen WHERE id = :keep"),
                 {"created": times[0], "seen": times[1], "keep": keep})
    conn.execute(sa.text("DELETE FROM fan WHERE id = :other"), {"other": other})


def upgrade() -> None:
    conn = op.get_bind()
    shared = conn.execute(sa.text(
        "SELECT unionid, min(id) FROM fan WHERE unionid IS NOT NULL GROUP BY unionid HAVING count(*) > 1")).all()
    for unionid, keep in shared:
        others = conn.execute(sa.text("SELECT id FROM fan WHERE unionid = :u AND id <> :keep ORDER BY id"),
                              {"u": unionid, "keep": keep}).scalars().all()
        for other in others:
            _merge(conn, keep, other)
        log.warning("merged fans %s into fan %s: they share a unionid; run `hub tags retag` for its profile",
                    list(others), keep)
    with op.batch_alter_table('fan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fan_unionid'))
        batch_op.create_index(batch_op.f('ix_fan_unionid'), ['unionid'], unique=True)


def downgrade() -> None:  # merged fans stay merged
    with op.batch_alter_table('fan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_fan_unionid'))
        batch_op.create_index(batch_op.f('ix_fan_unionid'), ['unionid'], unique=False)
