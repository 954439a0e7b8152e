"""The admin's forms (Flask-WTF: each carries the CSRF token) and the translated names of what they offer: roles,
languages, presence, skills."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext
from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp
from wtforms.widgets import CheckboxInput, ListWidget

from hub.core.models import ROLES
from hub.tickets.models import PRESENCE
from hub.tickets.teams import MAX_CAPACITY
from knowledge.intents import INTENTS

try:  # WTForms 3.3 declares options as SelectChoice (tuples are deprecated there)
    from wtforms.fields.choices import SelectChoice
except ImportError:  # pragma: no cover - older WTForms
    SelectChoice = None

ROLE_LABELS = {"admin": lazy_gettext("admin"), "operator": lazy_gettext("operator"), "agent": lazy_gettext("agent")}
PRESENCE_LABELS = {"online": lazy_gettext("Online"), "away": lazy_gettext("Away"), "offline": lazy_gettext("Offline")}
LANGUAGE_LABELS = {"": lazy_gettext("Default (Chinese)"), "zh": "中文", "en": "English"}
DEFAULT_SKILL = "*"  # a team with it takes the tickets no other team's skills match (hub.tickets.teams.team_for)
SKILL_LABELS = {
    "complaint": lazy_gettext("Complaint"), "human": lazy_gettext("Asks for a human"),
    "question": lazy_gettext("Question"), "purchase": lazy_gettext("Purchase"), "chitchat": lazy_gettext("Chit-chat"),
    DEFAULT_SKILL: lazy_gettext("Everything no other team takes (default team)"),
}
INTENT_SKILLS = (*INTENTS, DEFAULT_SKILL)
PASSWORD_MIN = 8
EMAIL = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"


def options(pairs: Iterable[tuple[Any, Any]]) -> list[Any]:
    """(value, label) pairs as the installed WTForms wants a field's choices."""
    return [SelectChoice(value, label) if SelectChoice else (value, label) for value, label in pairs]


def _roles() -> list[Any]:
    return options((role, ROLE_LABELS[role]) for role in ROLES)


def role_label(role: str) -> Any:
    return ROLE_LABELS.get(role, role)


def skill_label(skill: str) -> Any:
    return SKILL_LABELS.get(skill, skill)


class CheckboxesField(SelectMultipleField):
    """Several choices as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def _password() -> PasswordField:
    return PasswordField(lazy_gettext("Password"), validators=[
        DataRequired(), Length(min=PASSWORD_MIN, max=200, message=lazy_gettext(
            "The password needs at least %(min)d characters.", min=PASSWORD_MIN))])


class UserCreateForm(FlaskForm):
    email = EmailField(lazy_gettext("E-mail"), validators=[
        DataRequired(), Length(max=254),
        Regexp(EMAIL, message=lazy_gettext("Enter an e-mail address such as name@example.com."))])
    name = StringField(lazy_gettext("Name"), validators=[Optional(), Length(max=200)])
    role = SelectField(lazy_gettext("Role"), choices=_roles(), default="agent")
    password = _password()
    locale = SelectField(lazy_gettext("Language"), choices=options(LANGUAGE_LABELS.items()), default="")


class RoleForm(FlaskForm):
    role = SelectField(lazy_gettext("Role"), choices=_roles())


class LocaleForm(FlaskForm):
    locale = SelectField(lazy_gettext("Language"), choices=options(LANGUAGE_LABELS.items()))


class PasswordForm(FlaskForm):
    password = _password()


class ConfirmForm(FlaskForm):
    """A button that changes one thing (deactivate, reactivate, remove from a team): only the CSRF token."""


class AgentForm(FlaskForm):
    capacity = IntegerField(lazy_gettext("Capacity (tickets at once)"), validators=[
        InputRequired(message=lazy_gettext("Enter a number of tickets.")),
        NumberRange(min=0, max=MAX_CAPACITY, message=lazy_gettext(
            "Capacity is a number of tickets from 0 to %(max)d.", max=MAX_CAPACITY))])
    status = SelectField(lazy_gettext("Status"), choices=options((p, PRESENCE_LABELS[p]) for p in PRESENCE))
    teams = CheckboxesField(lazy_gettext("Teams"), choices=[], validate_choice=True)


class TeamForm(FlaskForm):
    name = StringField(lazy_gettext("Team name"), validators=[DataRequired(), Length(max=64)])
    skills = CheckboxesField(lazy_gettext("Skills"), choices=[])
    other_skills = StringField(lazy_gettext("Other skills (interest tag names, separated by commas)"),
                               validators=[Optional(), Length(max=500)])
    lead = SelectField(lazy_gettext("Team lead (notified when a ticket escalates)"), choices=[])


class MemberForm(FlaskForm):
    agent = SelectField(lazy_gettext("Agent"), choices=[], coerce=int)


def split_skills(text: str | None) -> list[str]:
    """'数码, 美妆，母婴' → ['数码', '美妆', '母婴'] (ASCII or Chinese commas)."""
    return [part.strip() for part in (text or "").replace("，", ",").replace("、", ",").split(",") if part.strip()]
