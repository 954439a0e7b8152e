"""The admin's team pages: the teams with their skills, lead and agents; creating a team; one team's page to change
its name, skills and lead and to add or remove agents.

A skill is an intent (complaint, human, question, purchase, chitchat), an interest tag's name (the existing tags
are offered), or "*" for the team that takes what no other team's skills match (hub.tickets.teams.team_for)."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, url_for
from flask_babel import gettext
from sqlmodel import Session, col, select

from hub.core.models import User
from hub.tags import Tag
from hub.tickets import Effects
from hub.tickets.models import Agent, Team, TeamMember
from hub.tickets.teams import add_agent, create_team, update_team
from hub.web.admin.blueprint import bp
from hub.web.admin.changes import Refused, apply, done, hub_state, refused
from hub.web.admin.forms import (
    INTENT_SKILLS,
    ConfirmForm,
    MemberForm,
    TeamForm,
    options,
    skill_label,
    split_skills,
)

MAX_SKILL = 30


def _tag_names(session: Session) -> list[str]:
    return list(session.exec(select(Tag.name).where(col(Tag.deleted_at).is_(None), Tag.kind != "system")
                             .order_by(col(Tag.name))).all())


def _prepare(form: TeamForm, session: Session) -> None:
    """The choices the team form offers: the intents, the existing tags, and who may lead."""
    form.skills.choices = options((skill, skill_label(skill)) for skill in (*INTENT_SKILLS, *_tag_names(session)))
    leads = session.exec(select(User.email).where(col(User.active).is_(True), col(User.role).in_(("agent", "admin")))
                         .order_by(col(User.email))).all()
    form.lead.choices = options([("", gettext("No lead")), *((email, email) for email in leads)])


def _skills(form: TeamForm) -> list[str]:
    skills = [*(form.skills.data or []), *split_skills(form.other_skills.data)]
    too_long = [skill for skill in skills if len(skill) > MAX_SKILL]
    if too_long:
        raise Refused(gettext("A skill has at most %(max)d characters: %(skill)s", max=MAX_SKILL, skill=too_long[0]),
                      "other_skills")
    return list(dict.fromkeys(skills))


def _name_taken(session: Session, name: str, team_id: int | None = None) -> None:
    other = session.exec(select(Team).where(Team.name == name)).first()
    if other is not None and other.id != team_id:
        raise Refused(gettext("A team named %(name)s exists already.", name=name), "name")


def _with_error(form: TeamForm, error: str) -> None:
    field = getattr(form, getattr(form, "_refused_field", None) or "name")
    field.errors = [*field.errors, error]


def _members(session: Session) -> dict[int, list[dict[str, Any]]]:
    rows = session.exec(select(TeamMember.team_id, User, Agent).join(User, col(User.id) == TeamMember.user_id)
                        .join(Agent, col(Agent.user_id) == User.id, isouter=True).order_by(col(User.email))).all()
    out: dict[int, list[dict[str, Any]]] = {}
    for team_id, user, agent in rows:
        out.setdefault(team_id, []).append({"user": user, "agent": agent})
    return out


def _teams_page(form: TeamForm, status: int = 200) -> Any:
    with Session(hub_state().engine) as session:
        _prepare(form, session)
        teams = session.exec(select(Team).order_by(col(Team.name))).all()
        members = _members(session)
        leads = {user.id: user.email for user in session.exec(select(User).where(
            col(User.id).in_([team.lead_id for team in teams if team.lead_id])))}
    return render_template("admin/teams.html", teams=teams, members=members, leads=leads, form=form,
                           skill_label=skill_label), status


@bp.get("/teams")
def teams() -> Any:
    return _teams_page(TeamForm(formdata=None))


@bp.post("/teams")
def create() -> Any:
    form = TeamForm()
    with Session(hub_state().engine) as session:
        _prepare(form, session)
    if not form.validate():
        return _teams_page(form, 400)
    name = form.name.data.strip()

    def change(session: Session, fx: Effects) -> None:
        _name_taken(session, name)
        create_team(session, name, _skills(form), form.lead.data or None)

    error = _apply_team(form, change, "create team", name)
    if error:
        _with_error(form, error)
        return _teams_page(form, 400)
    return done(url_for("admin.teams"), gettext("Team %(name)s created.", name=name))


def _apply_team(form: TeamForm, change: Any, what: str, name: str, team_id: int | None = None) -> str | None:
    field: list[str | None] = [None]

    def tracked(session: Session, fx: Effects) -> None:
        try:
            change(session, fx)
        except Refused as exc:
            field[0] = exc.field
            raise

    error = apply(tracked, what, team=name, team_id=team_id)
    form._refused_field = field[0]  # type: ignore[attr-defined]
    return error


def _load(session: Session, team_id: int) -> Team:
    team = session.get(Team, team_id)
    if team is None:
        abort(404)
    return team


def _team_page(team_id: int, form: TeamForm | None = None, member_form: MemberForm | None = None,
               status: int = 200) -> Any:
    with Session(hub_state().engine) as session:
        team = _load(session, team_id)
        if form is None:
            form = TeamForm(formdata=None, name=team.name)
            _prepare(form, session)
            offered = {choice.value for choice in form.skills.iter_choices()}
            form.skills.data = [skill for skill in team.skills or [] if skill in offered]
            form.other_skills.data = ", ".join(skill for skill in team.skills or [] if skill not in offered)
            lead = session.get(User, team.lead_id) if team.lead_id else None
            form.lead.data = lead.email if lead else ""
        else:
            _prepare(form, session)
        members = _members(session).get(team_id, [])
        inside = {member["user"].id for member in members}
        candidates = session.exec(select(User).join(Agent, col(Agent.user_id) == User.id)
                                  .where(col(User.active).is_(True)).order_by(col(User.email))).all()
        member_form = member_form or MemberForm(formdata=None)
        member_form.agent.choices = options((user.id, f"{user.display_name or user.email} <{user.email}>")
                                            for user in candidates if user.id not in inside)
    return render_template("admin/team.html", team=team, form=form, members=members, member_form=member_form,
                           confirm_form=ConfirmForm(formdata=None), skill_label=skill_label), status


@bp.get("/teams/<int:team_id>")
def team(team_id: int) -> Any:
    return _team_page(team_id)


@bp.post("/teams/<int:team_id>")
def edit(team_id: int) -> Any:
    form = TeamForm()
    with Session(hub_state().engine) as session:
        _prepare(form, session)
    if not form.validate():
        return _team_page(team_id, form=form, status=400)
    name = form.name.data.strip()

    def change(session: Session, fx: Effects) -> None:
        team = _load(session, team_id)
        _name_taken(session, name, team_id)
        update_team(session, team, skills=_skills(form), lead_email=form.lead.data or "", name=name)
        fx.wake = True  # new skills may match waiting tickets

    error = _apply_team(form, change, "edit team", name, team_id)
    if error:
        _with_error(form, error)
        return _team_page(team_id, form=form, status=400)
    return done(url_for("admin.team", team_id=team_id), gettext("Team saved."))


@bp.post("/teams/<int:team_id>/members")
def add_member(team_id: int) -> Any:
    here = url_for("admin.team", team_id=team_id)
    form = MemberForm()
    with Session(hub_state().engine) as session:
        team = _load(session, team_id)
        form.agent.choices = options((user_id, str(user_id)) for user_id in session.exec(select(Agent.user_id)).all())
    if not form.validate():
        return refused(here, gettext("Choose an agent to add."))

    def change(session: Session, fx: Effects) -> None:
        user = session.get(User, form.agent.data)
        if user is None:
            raise Refused(gettext("Choose an agent to add."))
        add_agent(session, user.email, [team.name])
        fx.wake = True  # they may take the team's waiting tickets

    error = apply(change, "add team member", team_id=team_id, user_id=form.agent.data)
    return refused(here, error) if error else done(here, gettext("Agent added to the team."))


@bp.post("/teams/<int:team_id>/members/<int:user_id>/remove")
def remove_member(team_id: int, user_id: int) -> Any:
    here = url_for("admin.team", team_id=team_id)
    if not ConfirmForm().validate():
        abort(400)

    def change(session: Session, fx: Effects) -> None:
        member = session.get(TeamMember, (team_id, user_id))
        if member is None:
            raise Refused(gettext("That agent is not in this team."))
        session.delete(member)

    error = apply(change, "remove team member", team_id=team_id, user_id=user_id)
    return refused(here, error) if error else done(here, gettext("Agent removed from the team."))
