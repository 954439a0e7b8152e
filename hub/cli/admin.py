"""`hub account`, `hub user`, `hub rules`: what an admin sets up from a terminal."""

from __future__ import annotations

import json

import click

from hub.cli.common import command_state

# The values the tables accept (hub.core.models.ROLES, hub.conversation.RULE_KINDS; tests/cli checks they agree),
# spelled out so that `hub --help` need not import the database layer.
ROLES = ("admin", "operator", "agent")
RULE_KINDS = ("keyword", "welcome", "menu", "default")


def _save_account(**fields: str | None) -> None:
    from hub.core.accounts import AccountError, add_account
    from hub.core.db import session_scope

    state = command_state()
    try:
        with session_scope(state.engine) as session:
            account = add_account(session, **fields)
            key, channel = account.key, account.channel
    except AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    if channel == "community":  # Discourse: Admin → API → Webhooks, content type application/json
        click.echo(f"account {key!r} added; the forum webhook's Payload URL: <your public base URL>/webhooks/"
                   f"{channel}/{key} (content type application/json, the same secret; post events)")
        return
    click.echo(f"account {key!r} added; WeChat's server URL: <your public base URL>/webhooks/{channel}/{key}")


@click.group("account")
def account_group() -> None:
    """Channel accounts (Official Accounts, WeCom apps, community forums)."""


@account_group.command("add")
@click.argument("channel", type=click.Choice(["wechat", "wecom", "community"]))
@click.option("--key", required=True, help="Short name; becomes part of the webhook URL.")
@click.option("--token", default=None, help="The Token set in the channel's server configuration.")
@click.option("--app-id", default=None, help="wechat: AppID.")
@click.option("--app-secret", default=None, help="wechat: AppSecret.")
@click.option("--aes-key", default=None, help="EncodingAESKey (43 characters); wechat: enables safe mode.")
@click.option("--mode", type=click.Choice(["plaintext", "compatible", "safe"]), default=None,
              help="wechat: plaintext or safe (the default without / with --aes-key), or compatible (both) "
                   "while WeChat's console is switched between them.")
@click.option("--corp-id", default=None, help="wecom: CorpID.")
@click.option("--agent-id", default=None, help="wecom: AgentId.")
@click.option("--secret", default=None, help="wecom: app Secret; community: webhook secret.")
@click.option("--api-base", default=None, help="Override the channel's API base URL (e.g. a local emulator).")
@click.option("--api-key", default=None, help="community: API key for replies.")
@click.option("--api-username", default=None,
              help="community: the forum user the API key posts as (default system); their posts are never answered.")
@click.option("--categories", default=None,
              help="community: comma-separated category ids the bot answers in (default: every category).")
@click.option("--name", default="", help="A display name.")
def account_add(channel: str, **opts: str | None) -> None:
    """Add an account. wechat: --token --app-id --app-secret [--aes-key]."""
    required = {
        "wechat": ("token", "app_id", "app_secret"),
        "wecom": ("token", "aes_key", "corp_id", "agent_id", "secret"),
        "community": ("secret",),
    }[channel]
    missing = [f"--{name.replace('_', '-')}" for name in required if not opts.get(name)]
    if missing:
        raise click.ClickException(f"{channel} accounts need {', '.join(missing)}")
    settings: dict[str, str] = {}
    if channel == "wechat" and opts.get("mode"):
        if opts["mode"] != "plaintext" and not opts.get("aes_key"):
            raise click.ClickException(f"--mode {opts['mode']} needs --aes-key")
        settings["mode"] = str(opts["mode"])
    if channel == "wecom":
        if not str(opts["agent_id"]).isdigit():
            raise click.ClickException("--agent-id must be the app's AgentId, a whole number")
        # CorpID is the callback's receive id and gettoken's corpid; the Secret is gettoken's corpsecret.
        opts["app_id"], opts["app_secret"] = opts["corp_id"], opts["secret"]
        settings["agent_id"] = str(opts["agent_id"])
    elif channel == "community":
        # token: the webhook secret; app_secret: the API key; settings: api_username, categories.
        opts["token"], opts["app_secret"] = opts["secret"], opts["api_key"]
        settings.update(_community_settings(opts))  # type: ignore[arg-type]
    _save_account(
        key=opts["key"], channel=channel, name=opts.get("name") or "", token=opts.get("token") or "",
        app_id=opts.get("app_id") or "", app_secret=opts.get("app_secret") or "",
        aes_key=opts.get("aes_key"), api_base=opts.get("api_base"), settings=settings,  # type: ignore[arg-type]
    )


def _community_settings(opts: dict[str, str | None]) -> dict[str, object]:
    from channels.community.settings import parse_categories

    if bool(opts.get("api_base")) != bool(opts.get("api_key")):
        raise click.ClickException("community accounts reply through the forum's API: give both --api-base and "
                                   "--api-key, or neither (then the hub only listens)")
    settings: dict[str, object] = {}
    if opts.get("api_username"):
        settings["api_username"] = str(opts["api_username"]).strip()
    try:
        categories = parse_categories(opts.get("categories"))
    except ValueError as exc:
        raise click.ClickException(f"--categories: {exc}") from exc
    if categories:
        settings["categories"] = sorted(categories)
    return settings


@account_group.command("list")
def account_list() -> None:
    from sqlmodel import Session, select

    from hub.core.models import Account

    with Session(command_state().engine) as session:
        for account in session.exec(select(Account).order_by(Account.id)).all():
            settings = account.settings or {}
            if account.channel == "wechat":
                mode = settings.get("mode") or ("safe" if account.aes_key else "plaintext")
                mode = f"{mode} mode" if mode != "plaintext" else mode
            else:
                mode = "encrypted" if account.channel == "wecom" else (account.api_base or "listening only")
            scope = settings.get("kb_categories")
            scope_text = f"  kb: {','.join(scope)}" if scope else ""
            click.echo(f"{account.key:<20} {account.channel:<10} {account.app_id:<24} {mode}{scope_text}")


@account_group.command("kb")
@click.argument("key")
@click.option("--categories", required=True,
              help="Comma-separated knowledge-base categories this account's bot answers from (\"\" for all).")
def account_kb(key: str, categories: str) -> None:
    """The knowledge scope of one account: which categories of entries its FAQ bot may answer from."""
    from sqlmodel import select

    from hub.core.db import session_scope
    from hub.core.models import Account

    chosen = sorted({c.strip() for c in categories.split(",") if c.strip()})
    if any(len(c) > 100 for c in chosen):
        raise click.ClickException("a category has at most 100 characters")
    with session_scope(command_state().engine) as session:
        account = session.exec(select(Account).where(Account.key == key)).first()
        if account is None:
            raise click.ClickException(f"no account with key {key!r} (see hub account list)")
        account.settings = {**(account.settings or {}), "kb_categories": chosen}
        session.add(account)
    scope = ", ".join(chosen) if chosen else "every category"
    click.echo(f"account {key!r} answers from: {scope} (every process within 10 s)")


@click.group("user")
def user_group() -> None:
    """Console users."""


@user_group.command("add")
@click.argument("email")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--password", required=True, help="At least 8 characters.")
@click.option("--name", default="", help="Display name.")
def user_add(email: str, role: str, password: str, name: str) -> None:
    from sqlmodel import select
    from werkzeug.security import generate_password_hash

    from hub.core.db import session_scope
    from hub.core.models import User

    if "@" not in email or len(email) > 254:
        raise click.ClickException("give a valid e-mail address")
    if len(password) < 8:
        raise click.ClickException("the password must have at least 8 characters")
    with session_scope(command_state().engine) as session:
        if session.exec(select(User).where(User.email == email.lower())).first():
            raise click.ClickException(f"a user {email} exists already")
        digest = generate_password_hash(password)
        session.add(User(email=email.lower(), role=role, display_name=name, password_hash=digest))
    click.echo(f"user {email} added as {role}")


@click.group("rules")
def rules_group() -> None:
    """Auto-reply rules: keyword, welcome (per referral scene), menu clicks, default."""


@rules_group.command("add")
@click.option("--account", "account_key", required=True)
@click.option("--kind", type=click.Choice(RULE_KINDS), required=True)
@click.option("--match", "match", type=click.Choice(["exact", "contains", "regex"]), default="contains")
@click.option("--pattern", default="", help="keyword: the keyword/regex; menu: the CLICK key; welcome: a scene.")
@click.option("--reply", required=True)
@click.option("--priority", type=int, default=0)
def rules_add(account_key: str, kind: str, match: str, pattern: str, reply: str, priority: int) -> None:
    from sqlmodel import select

    from hub.conversation import Rule, RuleError, rules_changed, validate
    from hub.core.db import session_scope
    from hub.core.models import Account

    try:
        validate(kind, match, pattern, reply)
    except RuleError as exc:
        raise click.ClickException(str(exc)) from exc
    state = command_state()
    with session_scope(state.engine) as session:
        account = session.exec(select(Account).where(Account.key == account_key)).first()
        if account is None:
            raise click.ClickException(f"no account {account_key!r}; see `hub account list`")
        rule = Rule(account_id=account.id, kind=kind, match=match, pattern=pattern, reply=reply, priority=priority)
        session.add(rule)
        session.flush()
        rule_id = rule.id
    rules_changed(state)
    click.echo(f"rule {rule_id} added")


@rules_group.command("list")
@click.option("--account", "account_key", default=None)
@click.option("--json", "as_json", is_flag=True)
def rules_list(account_key: str | None, as_json: bool) -> None:
    from sqlmodel import Session, select

    from hub.conversation import Rule
    from hub.core.models import Account

    with Session(command_state().engine) as session:
        query = select(Rule, Account.key).join(Account)
        if account_key:
            query = query.where(Account.key == account_key)
        rows = session.exec(query.order_by(Rule.id)).all()
    items = [
        {"id": r.id, "account": key, "kind": r.kind, "match": r.match, "pattern": r.pattern,
         "reply": r.reply, "priority": r.priority, "enabled": r.enabled}
        for r, key in rows
    ]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False))
        return
    for item in items:
        click.echo(f"{item['id']:>4} {item['account']:<12} {item['kind']:<8} {item['match']:<8} "
                   f"{item['pattern']!r:<20} p={item['priority']} -> {item['reply'][:40]}")


@rules_group.command("remove")
@click.argument("rule_id", type=int)
def rules_remove(rule_id: int) -> None:
    from hub.conversation import Rule, rules_changed
    from hub.core.db import session_scope

    state = command_state()
    with session_scope(state.engine) as session:
        rule = session.get(Rule, rule_id)
        if rule is None:
            raise click.ClickException(f"no rule {rule_id}")
        session.delete(rule)
    rules_changed(state)
    click.echo(f"rule {rule_id} removed")
