"""Migrations: the models and the migrations describe the same schema, and the data migrations keep every
row. On SQLite and PostgreSQL, each in a database of its own."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, insert, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel, select

from hub.core.migrate import upgrade
from hub.core.models import Account, Fan, Identity, Message, utcnow
from hub.tags.models import FanProfile, FanTag, Tag
from hub.tickets.models import Ticket

_names = itertools.count()
BEFORE_ONE_FAN_PER_UNIONID = "6826db8fd79c"


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'migrations.db'}")
        yield engine
        engine.dispose()
        return
    server = request.getfixturevalue("postgres_server")
    name = f"hub_migrations_{next(_names)}"
    admin = create_engine(server.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine = create_engine(server.url(name))
    yield engine
    engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f"DROP DATABASE {name}"))
    admin.dispose()


def test_the_migrations_build_the_schema_the_models_describe(empty_engine: Engine) -> None:
    upgrade(empty_engine)
    with empty_engine.connect() as conn:
        differences = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert differences == []


@dataclass(frozen=True)
class _Row:
    id: int


def _old_row(session: Session, model: Any, **values: Any) -> int:
    """Insert a row naming only these columns (a table as an older migration left it); its id."""
    table = model.__table__
    return session.execute(insert(table).values(**values).returning(table.c.id)).scalar_one()


def test_fans_split_by_a_unionid_race_are_merged_into_the_oldest(empty_engine: Engine) -> None:
    upgrade(empty_engine, BEFORE_ONE_FAN_PER_UNIONID)
    now = utcnow()
    with Session(empty_engine) as session:
        accounts = [Account(key=key, channel="wechat") for key in ("a", "b", "c")]
        # The fan and identity tables as they were then (the models have grown since): only those columns.
        kept, split, again = (_Row(_old_row(session, Fan, unionid="u-1", display_name="",
                                            created_at=now - timedelta(days=days),
                                            last_seen_at=now - timedelta(days=days))) for days in (3, 5, 1))
        other_person = _Row(_old_row(session, Fan, unionid="u-2", display_name="", created_at=now, last_seen_at=now))
        tags = [Tag(name=name) for name in ("数码", "美妆", "汽车")]
        session.add_all([*accounts, *tags])
        session.flush()
        for account, fan in zip(accounts, (kept, split, again), strict=True):
            identity = _Row(_old_row(session, Identity, fan_id=fan.id, account_id=account.id,
                                     external_id=f"o-{account.key}", subscribed=True, created_at=now))
            session.add(Message(account_id=account.id, fan_id=fan.id, identity_id=identity.id, direction="in",
                                kind="text", text="hi", external_id=f"m-{account.key}", sent_at=now, received_at=now,
                                status="received", reply_state="pending", source="fan", raw=""))
        # The ticket table as it was then (the model has grown since).
        session.execute(text("INSERT INTO ticket (account_id, fan_id, status, reason, created_at, updated_at) "
                             "VALUES (:account, :fan, 'open', 'help', :now, :now)"),
                        {"account": accounts[1].id, "fan": split.id, "now": now})
        session.add_all([
            FanTag(fan_id=kept.id, tag_id=tags[0].id, source="auto", score=0.6),
            FanTag(fan_id=split.id, tag_id=tags[0].id, source="manual"),  # a manual tag beats the kept auto one
            FanTag(fan_id=kept.id, tag_id=tags[1].id, source="manual"),
            FanTag(fan_id=again.id, tag_id=tags[1].id, source="auto", score=0.9),  # the kept manual one stays
            FanTag(fan_id=again.id, tag_id=tags[2].id, source="auto", score=0.7),  # moves
            FanProfile(fan_id=kept.id, data={"scores": {"数码": 0.6}}),
            FanProfile(fan_id=split.id, data={"scores": {"数码": 0.9}}),
        ])
        session.commit()
        kept_id, split_id, again_id, other_id = kept.id, split.id, again.id, other_person.id
        tag_ids = [tag.id for tag in tags]

    upgrade(empty_engine)

    with Session(empty_engine) as session:
        assert sorted(session.exec(select(Fan.id, Fan.unionid)).all()) == [(kept_id, "u-1"), (other_id, "u-2")]
        fan = session.get(Fan, kept_id)
        assert fan is not None
        assert fan.created_at == now - timedelta(days=5) and fan.last_seen_at == now - timedelta(days=1)
        assert set(session.exec(select(Identity.fan_id)).all()) == {kept_id}
        assert set(session.exec(select(Message.fan_id)).all()) == {kept_id}
        assert session.exec(select(Ticket.fan_id)).all() == [kept_id]
        tagged = {(t.tag_id, t.source) for t in session.exec(select(FanTag).where(FanTag.fan_id == kept_id))}
        assert tagged == {(tag_ids[0], "manual"), (tag_ids[1], "manual"), (tag_ids[2], "auto")}
        assert session.exec(select(FanTag).where(FanTag.fan_id.in_([split_id, again_id]))).all() == []
        assert session.exec(select(FanProfile.fan_id)).all() == [kept_id]

    with Session(empty_engine) as session, pytest.raises(Exception, match="(?i)unique"):
        session.add(Fan(unionid="u-1"))
        session.commit()


def test_importing_the_app_registers_every_features_tables() -> None:
    """What migrations/env.py relies on: `import hub.app` alone brings in every hub/*/models.py."""
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[2]
    modules = sorted(".".join(p.relative_to(root).with_suffix("").parts) for p in (root / "hub").glob("*/models.py"))
    code = ("import sys, hub.app; missing = [m for m in sys.argv[1:] if m not in sys.modules]; "
            "print(' '.join(missing))")
    result = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True, check=True)
    assert len(modules) >= 5 and result.stdout.strip() == ""
