"""The operator's auto-reply rules, per account: keyword rules (exact, contains or regex, with a priority), the
welcome message by referral scene, menu clicks and the default reply — listed, created, edited, disabled or
deleted — and "which rule answers this text?", asked of the same matcher the bots use."""

from __future__ import annotations

import logging
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlmodel import Session, col, select
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from hub.conversation import Rule, RuleError, rules_changed, validate
from hub.conversation.rules import which_rule
from hub.core.db import session_scope
from hub.core.models import Account
from hub.web.admin.forms import options
from hub.web.operator.blueprint import bp
from hub.web.operator.tags import ConfirmForm, hub_state, valid

log = logging.getLogger("hub.web.operator")
KIND_LABELS = {"keyword": lazy_gettext("Keyword"), "welcome": lazy_gettext("Welcome (on subscribe)"),
               "menu": lazy_gettext("Menu click"), "default": lazy_gettext("Default reply")}
MATCH_LABELS = {"exact": lazy_gettext("Exact"), "contains": lazy_gettext("Contains"),
                "regex": lazy_gettext("Regular expression")}


class RuleForm(FlaskForm):
    kind = SelectField(lazy_gettext("Kind"), choices=options(KIND_LABELS.items()), default="keyword")
    match = SelectField(lazy_gettext("Match"), choices=options(MATCH_LABELS.items()), default="contains")
    pattern = StringField(lazy_gettext("Pattern (keyword or regex; menu: the CLICK key; welcome: a referral scene)"),
                          validators=[Optional(), Length(max=500)])
    reply = TextAreaField(lazy_gettext("Reply"), validators=[DataRequired(), Length(max=2000)])
    priority = IntegerField(lazy_gettext("Priority (higher first)"), default=0, validators=[
        InputRequired(message=lazy_gettext("Enter a number.")), NumberRange(min=-1000, max=1000)])
    enabled = BooleanField(lazy_gettext("Enabled"), default=True)


class TestForm(FlaskForm):
    text = StringField(lazy_gettext("A fan writes"), validators=[DataRequired(), Length(max=2000)])


def _accounts(session: Session) -> list[Account]:
    return list(session.exec(select(Account).order_by(col(Account.key))).all())


def _account(session: Session, key: str | None) -> Account | None:
    accounts = _accounts(session)
    if key:
        found = next((a for a in accounts if a.key == key), None)
        if found is None:
            abort(404, description=gettext("There is no such account."))
        return found
    return accounts[0] if accounts else None


def _page(account_key: str | None, form: RuleForm | None = None, test: TestForm | None = None,
          answer: dict[str, Any] | None = None, status: int = 200) -> Any:
    with Session(hub_state().engine) as session:
        accounts = _accounts(session)
        account = _account(session, account_key)
        rules = list(session.exec(select(Rule).where(Rule.account_id == account.id)
                                  .order_by(col(Rule.kind), col(Rule.priority).desc(), col(Rule.id))).all()
                     ) if account else []
    return render_template("operator/rules.html", accounts=accounts, account=account, rules=rules,
                           form=form or RuleForm(formdata=None), test=test or TestForm(formdata=None),
                           answer=answer, kinds=KIND_LABELS, matches=MATCH_LABELS,
                           confirm=ConfirmForm(formdata=None)), status


@bp.get("/rules")
def rules() -> Any:
    return _page(request.args.get("account"))


def _check(form: RuleForm) -> bool:
    """The form's own checks, then the rule's (an invalid regex, a missing pattern) as field errors."""
    if not valid(form, "rule"):
        return False
    try:
        validate(form.kind.data, form.match.data, form.pattern.data or "", form.reply.data or "")
    except RuleError as exc:
        log.warning("rule refused", extra={"operator_id": current_user.id, "reason": str(exc)})
        target = form.reply if "reply" in str(exc) else form.pattern
        target.errors = [*target.errors, str(exc)]
        return False
    return True


def _fill(rule: Rule, form: RuleForm) -> None:
    rule.kind, rule.match = form.kind.data, form.match.data
    rule.pattern, rule.reply = (form.pattern.data or "").strip(), form.reply.data
    rule.priority, rule.enabled = form.priority.data, bool(form.enabled.data)


@bp.post("/rules/<account_key>")
def create_rule(account_key: str) -> Any:
    form = RuleForm()
    if not _check(form):
        return _page(account_key, form=form, status=400)
    with session_scope(hub_state().engine) as session:
        account = _account(session, account_key)
        rule = Rule(account_id=account.id, reply="")  # type: ignore[union-attr]
        _fill(rule, form)
        session.add(rule)
        session.flush()
        rule_id = rule.id
    rules_changed(hub_state())
    log.info("rule created", extra={"operator_id": current_user.id, "rule_id": rule_id, "account": account_key})
    flash(gettext("Rule %(id)d added.", id=rule_id), "ok")
    return redirect(url_for("operator.rules", account=account_key))


def _load(session: Session, rule_id: int) -> tuple[Rule, Account]:
    rule = session.get(Rule, rule_id)
    account = session.get(Account, rule.account_id) if rule else None
    if rule is None or account is None:
        abort(404, description=gettext("There is no such rule."))
    return rule, account


def _rule_page(rule_id: int, form: RuleForm | None = None, status: int = 200) -> Any:
    with Session(hub_state().engine) as session:
        rule, account = _load(session, rule_id)
        form = form or RuleForm(formdata=None, obj=rule)
    return render_template("operator/rule.html", rule=rule, account=account, form=form,
                           confirm=ConfirmForm(formdata=None)), status


@bp.get("/rules/edit/<int:rule_id>")
def rule(rule_id: int) -> Any:
    return _rule_page(rule_id)


@bp.post("/rules/edit/<int:rule_id>")
def edit_rule(rule_id: int) -> Any:
    form = RuleForm()
    if not _check(form):
        return _rule_page(rule_id, form=form, status=400)
    with session_scope(hub_state().engine) as session:
        rule, account = _load(session, rule_id)
        _fill(rule, form)
        session.add(rule)
        key = account.key
    rules_changed(hub_state())
    log.info("rule changed", extra={"operator_id": current_user.id, "rule_id": rule_id})
    flash(gettext("Rule %(id)d saved.", id=rule_id), "ok")
    return redirect(url_for("operator.rules", account=key))


@bp.post("/rules/edit/<int:rule_id>/toggle")
def toggle_rule(rule_id: int) -> Any:
    if not valid(ConfirmForm(), "confirm"):
        abort(400)
    with session_scope(hub_state().engine) as session:
        rule, account = _load(session, rule_id)
        rule.enabled = not rule.enabled
        session.add(rule)
        key, enabled = account.key, rule.enabled
    rules_changed(hub_state())
    log.info("rule toggled", extra={"operator_id": current_user.id, "rule_id": rule_id, "enabled": enabled})
    flash(gettext("Rule %(id)d enabled.", id=rule_id) if enabled else gettext("Rule %(id)d disabled.", id=rule_id),
          "ok")
    return redirect(url_for("operator.rules", account=key))


@bp.post("/rules/edit/<int:rule_id>/delete")
def delete_rule(rule_id: int) -> Any:
    if not valid(ConfirmForm(), "confirm"):
        abort(400)
    with session_scope(hub_state().engine) as session:
        rule, account = _load(session, rule_id)
        key = account.key
        session.delete(rule)
    rules_changed(hub_state())
    log.info("rule deleted", extra={"operator_id": current_user.id, "rule_id": rule_id})
    flash(gettext("Rule %(id)d deleted.", id=rule_id), "ok")
    return redirect(url_for("operator.rules", account=key))


@bp.post("/rules/<account_key>/test")
def test_rules(account_key: str) -> Any:
    """Which rule answers a text: a keyword rule, else (if the knowledge base does not answer) the default."""
    test = TestForm()
    if not valid(test, "test rules"):
        return _page(account_key, test=test, status=400)
    with Session(hub_state().engine) as session:
        account = _account(session, account_key)
        rows = list(session.exec(select(Rule).where(Rule.account_id == account.id)).all())  # type: ignore[union-attr]
    found, how = which_rule(rows, test.text.data)
    return _page(account_key, test=test, answer={"rule": found, "how": how, "text": test.text.data})
