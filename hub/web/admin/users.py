"""The admin's user pages: the list (with each agent's presence, load, capacity and teams), creating a user,
and one user's page: role, language, password reset, deactivation, and — for agents — capacity, teams and status.

A deactivated user's console sessions and API tokens stop working at their next request, and a password reset
ends the sessions (hub.web.auth checks both on every request); a deactivated agent goes offline, so their
tickets are routed to others."""

from __future__ import annotations

from typing import Any

from flask import abort, redirect, render_template, url_for
from flask_babel import gettext
from sqlmodel import Session, col, select
from werkzeug.security import generate_password_hash

from hub.core.models import User
from hub.tickets import Effects
from hub.tickets.models import OFFLINE, Agent, Team, TeamMember
from hub.tickets.presence import set_status
from hub.tickets.teams import add_agent, set_capacity
from hub.web.admin.blueprint import bp
from hub.web.admin.changes import Refused, apply, done, hub_state, me, refused
from hub.web.admin.forms import (
    AgentForm,
    ConfirmForm,
    LocaleForm,
    PasswordForm,
    RoleForm,
    UserCreateForm,
    options,
    role_label,
)

WORKS_TICKETS = ("agent", "admin")  # roles that may have an agent record (admins may work tickets too)


@bp.get("/")
def index() -> Any:
    return redirect(url_for("admin.users"))


def _teams_by_user(session: Session) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    rows = session.exec(select(TeamMember.user_id, Team.name).join(Team, col(Team.id) == TeamMember.team_id)
                        .order_by(col(Team.name))).all()
    for user_id, name in rows:
        out.setdefault(user_id, []).append(name)
    return out


def _users_page(form: UserCreateForm, status: int = 200) -> Any:
    with Session(hub_state().engine) as session:
        rows = session.exec(select(User, Agent).join(Agent, col(Agent.user_id) == User.id, isouter=True)
                            .order_by(col(User.email))).all()
        teams = _teams_by_user(session)
        people = [{"user": user, "agent": agent, "teams": teams.get(user.id or 0, [])} for user, agent in rows]
    return render_template("admin/users.html", people=people, form=form, role_label=role_label), status


@bp.get("/users")
def users() -> Any:
    return _users_page(UserCreateForm())


@bp.post("/users")
def create_user() -> Any:
    form = UserCreateForm()
    if not form.validate():
        return _users_page(form, 400)
    email = form.email.data.strip().lower()

    def change(session: Session, fx: Effects) -> None:
        if session.exec(select(User).where(User.email == email)).first() is not None:
            raise Refused(gettext("A user with this e-mail exists already."), "email")
        user = User(email=email, role=form.role.data, display_name=(form.name.data or "").strip(),
                    password_hash=generate_password_hash(form.password.data), locale=form.locale.data or None)
        session.add(user)
        session.flush()
        if user.role == "agent":
            add_agent(session, email)  # offline, default capacity, no team yet

    error = apply(change, "create user", email=email, role=form.role.data)
    if error:
        form.email.errors = [*form.email.errors, error]
        return _users_page(form, 400)
    return done(url_for("admin.users"), gettext("User %(email)s created.", email=email))


def _load(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        abort(404)
    return user


def _user_page(user_id: int, status: int = 200, **forms: Any) -> Any:
    with Session(hub_state().engine) as session:
        user = _load(session, user_id)
        agent = session.get(Agent, user_id)
        all_teams = list(session.exec(select(Team.name).order_by(col(Team.name))).all())
        mine = _teams_by_user(session).get(user_id, [])
    # The forms not being answered show the stored values, not what another form posted (formdata=None).
    role_form = forms.get("role_form") or RoleForm(formdata=None, role=user.role)
    locale_form = forms.get("locale_form") or LocaleForm(formdata=None, locale=user.locale or "")
    agent_form = forms.get("agent_form") or AgentForm(
        formdata=None, capacity=agent.capacity if agent else 5, status=agent.status if agent else OFFLINE, teams=mine)
    agent_form.teams.choices = options((name, name) for name in all_teams)
    return render_template(
        "admin/user.html", user=user, agent=agent, teams=mine, role_label=role_label, role_form=role_form,
        locale_form=locale_form, password_form=forms.get("password_form") or PasswordForm(formdata=None),
        confirm_form=ConfirmForm(formdata=None), agent_form=agent_form, works_tickets=user.role in WORKS_TICKETS,
        is_me=user_id == me()), status


@bp.get("/users/<int:user_id>")
def user(user_id: int) -> Any:
    return _user_page(user_id)


def _here(user_id: int) -> str:
    return url_for("admin.user", user_id=user_id)


@bp.post("/users/<int:user_id>/role")
def set_role(user_id: int) -> Any:
    form = RoleForm()
    if not form.validate():
        return _user_page(user_id, 400, role_form=form)
    role = form.role.data

    def change(session: Session, fx: Effects) -> None:
        user = _load(session, user_id)
        if user_id == me() and role != user.role:
            raise Refused(gettext("You cannot change your own role; another admin can."))
        agent = session.get(Agent, user_id)
        if role not in WORKS_TICKETS and agent is not None and agent.status != OFFLINE:
            set_status(session, user_id, OFFLINE, fx, actor_id=me())  # their tickets go to other agents
        user.role = role
        session.add(user)
        if role == "agent" and agent is None:
            add_agent(session, user.email)

    error = apply(change, "set role", user_id=user_id, role=role)
    if error:
        return refused(_here(user_id), error)
    return done(_here(user_id), gettext("Role changed to %(role)s.", role=role_label(role)))


@bp.post("/users/<int:user_id>/locale")
def set_locale(user_id: int) -> Any:
    form = LocaleForm()
    if not form.validate():
        return _user_page(user_id, 400, locale_form=form)

    def change(session: Session, fx: Effects) -> None:
        user = _load(session, user_id)
        user.locale = form.locale.data or None
        session.add(user)

    error = apply(change, "set language", user_id=user_id, locale=form.locale.data)
    return refused(_here(user_id), error) if error else done(_here(user_id), gettext("Language saved."))


@bp.post("/users/<int:user_id>/password")
def reset_password(user_id: int) -> Any:
    form = PasswordForm()
    if not form.validate():
        return _user_page(user_id, 400, password_form=form)

    def change(session: Session, fx: Effects) -> None:
        user = _load(session, user_id)
        user.password_hash = generate_password_hash(form.password.data)  # ends the user's sessions
        session.add(user)

    error = apply(change, "reset password", user_id=user_id)
    if error:
        return refused(_here(user_id), error)
    return done(_here(user_id), gettext("Password reset: the user's sessions have ended."))


def _set_active(user_id: int, active: bool) -> Any:
    if not ConfirmForm().validate():
        abort(400)

    def change(session: Session, fx: Effects) -> None:
        user = _load(session, user_id)
        if user_id == me() and not active:
            raise Refused(gettext("You cannot deactivate your own account."))
        agent = session.get(Agent, user_id)
        if not active and agent is not None and agent.status != OFFLINE:
            set_status(session, user_id, OFFLINE, fx, actor_id=me())
        user.active = active
        session.add(user)

    error = apply(change, "activate" if active else "deactivate", user_id=user_id)
    if error:
        return refused(_here(user_id), error)
    if active:
        return done(_here(user_id), gettext("The user can sign in again."))
    return done(_here(user_id), gettext("Deactivated: the user's sessions and API tokens no longer work."))


@bp.post("/users/<int:user_id>/deactivate")
def deactivate(user_id: int) -> Any:
    return _set_active(user_id, False)


@bp.post("/users/<int:user_id>/reactivate")
def reactivate(user_id: int) -> Any:
    return _set_active(user_id, True)


@bp.post("/users/<int:user_id>/agent")
def set_agent(user_id: int) -> Any:
    form = AgentForm()
    with Session(hub_state().engine) as session:
        user = _load(session, user_id)
        form.teams.choices = options((name, name) for name in session.exec(select(Team.name)).all())
    if user.role not in WORKS_TICKETS:
        return refused(_here(user_id), gettext("Only agents and admins work tickets."))
    if not form.validate():
        return _user_page(user_id, 400, agent_form=form)
    wanted = set(form.teams.data or [])

    def change(session: Session, fx: Effects) -> None:
        _, agent = add_agent(session, user.email, sorted(wanted))  # the agent record, the teams added
        set_capacity(session, user_id, form.capacity.data, fx)
        for member, name in session.exec(select(TeamMember, Team.name).join(Team, col(Team.id) == TeamMember.team_id)
                                          .where(TeamMember.user_id == user_id)).all():
            if name not in wanted:
                session.delete(member)
        fx.wake = True  # new teams may give them waiting tickets
        if agent.status != form.status.data:
            set_status(session, user_id, form.status.data, fx, actor_id=me())  # holds until changed

    error = apply(change, "set agent", user_id=user_id, capacity=form.capacity.data, status=form.status.data)
    return refused(_here(user_id), error) if error else done(_here(user_id), gettext("Agent settings saved."))
