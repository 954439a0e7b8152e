"""The demo's data: an account with rules, a knowledge base and interest tags that train a usable model;
seeding again (every `hub demo` start) adds nothing twice and leaves operators' changes alone."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from hub.conversation.models import Rule
from hub.core.db import session_scope
from hub.core.models import User
from hub.demo.data import DEMO_AGENTS, DEMO_RULES, DEMO_TAGS, DEMO_TEAMS, DEMO_USERS, seed_agents, seed_demo
from hub.kb.models import KbEntry
from hub.tags.models import Tag
from hub.tags.taxonomy import delete_tag


def _counts(state: Any) -> tuple[int, int, int, int]:
    with Session(state.engine) as session:
        return tuple(session.scalar(select(func.count()).select_from(model))  # type: ignore[return-value]
                     for model in (Rule, KbEntry, Tag, User))


def test_seeding_twice_adds_nothing_and_keeps_a_deleted_tag_deleted(state: Any) -> None:
    first = seed_demo(state, "http://127.0.0.1:1")
    rules, entries, tags, users = _counts(state)
    assert (rules, tags, users) == (len(DEMO_RULES), len(DEMO_TAGS), len(DEMO_USERS)) and entries > 0
    with session_scope(state.engine) as session:
        delete_tag(session, DEMO_TAGS[0][0])
    again = seed_demo(state, "http://127.0.0.1:2")
    assert again.id == first.id and again.api_base == "http://127.0.0.1:2"
    assert _counts(state) == (rules, entries, tags, users)
    with Session(state.engine) as session:
        assert session.exec(select(Tag.deleted_at).where(Tag.name == DEMO_TAGS[0][0])).one() is not None


def test_the_demo_tags_train_an_interest_model_that_tells_them_apart(state: Any) -> None:
    from hub.tags.classifiers import model_for, train_tag_model

    seed_demo(state, "http://127.0.0.1:1")
    assert train_tag_model("interest")["accepted"]
    model = model_for(state, "interest", wait=True)
    texts = {"美妆": "这支口红的色号适合黄皮吗", "数码": "手机拍照好不好", "母婴": "宝宝几个月可以加辅食",
             "汽车": "新能源汽车保养贵吗", "运动": "跑步膝盖疼怎么办"}
    found = dict(zip(texts, model.predict_top(list(texts.values())), strict=True))
    assert found == {label: label for label in texts}


def test_the_readme_walks_through_the_steps_the_demo_prints() -> None:
    from pathlib import Path

    from hub.demo.data import DEMO_STEPS

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    block = readme.split("In a second terminal:\n\n```bash\n", 1)[1].split("```", 1)[0]
    shown = [line.split("  #", 1)[0].strip() for line in block.strip().splitlines()]
    assert shown == [command.replace("hub ", ".venv/bin/hub ") for command, _ in DEMO_STEPS]


def test_the_demo_agents_are_online_in_two_teams_and_take_a_hand_off(state: Any, worker: Any) -> None:
    from hub.tickets import Effects, run_effects
    from hub.tickets.models import Agent, Team, Ticket
    from hub.tickets.presence import set_status
    from hub.tickets.teams import team_for
    from tests.support.tickets_setup import check_invariants, fan_message, open_for, user_id

    account = seed_demo(state, "http://127.0.0.1:1")
    seed_agents(state)
    with Session(state.engine) as session:
        assert {t.name: tuple(t.skills) for t in session.exec(select(Team)).all()} == dict(DEMO_TEAMS)
        agents = session.exec(select(Agent)).all()
        assert len(agents) == len(DEMO_AGENTS) and {a.status for a in agents} == {"online"}
        assert not any(a.status_by_heartbeat for a in agents)  # a status that holds: it does not fade
        team = team_for(session, "human", [])
    # An operator's change survives the next start.
    agent3 = user_id(state, "agent3@demo.local")
    fx = Effects()
    with session_scope(state.engine) as session:
        set_status(session, agent3, "offline", fx)
    run_effects(state, fx)
    seed_agents(state)
    with Session(state.engine) as session:
        assert session.get(Agent, agent3).status == "offline"
        assert session.scalar(select(func.count()).select_from(Team)) == len(DEMO_TEAMS)
    # "转人工" (intent human) goes to the 售后 team: the worker assigns it to the first of its agents.
    ticket_id, _ = open_for(state, fan_message(state, account.id, "fan3", "转人工"), team_id=team, intent="human")
    worker()
    with Session(state.engine) as session:
        assert session.get(Ticket, ticket_id).assignee_id == user_id(state, "agent1@demo.local")
    check_invariants(state)
