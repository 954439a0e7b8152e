"""`hub fans show`: what the hub knows of one fan — identities, interest tags with their evidence."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from hub.cli.common import command_state

if TYPE_CHECKING:
    from sqlmodel import Session


@click.group("fans")
def fans_group() -> None:
    """Fans and their interest profiles."""


@fans_group.command("show")
@click.argument("fan")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def fans_show(fan: str, as_json: bool) -> None:
    """FAN is a fan id or an openid: its identities, interest tags (score, auto or manual) and evidence."""
    from sqlmodel import Session, select

    from hub.core.models import Account, Fan, Identity
    from hub.tags import interests_of

    with Session(command_state().engine) as session:
        fan_id = _resolve(session, fan)
        found = session.get(Fan, fan_id) if fan_id is not None else None
        if found is None:
            raise click.ClickException(f"no fan {fan!r} (give a fan id or an openid)")
        rows = session.exec(select(Identity, Account.key).join(Account, Account.id == Identity.account_id)
                            .where(Identity.fan_id == fan_id).order_by(Identity.id)).all()
        identities = [{"id": ident.id, "account": key, "openid": ident.external_id, "subscribed": ident.subscribed,
                       "referral_scene": ident.referral_scene} for ident, key in rows]
        view = {"fan_id": fan_id, "identities": identities, **interests_of(session, fan_id)}
    if as_json:
        click.echo(json.dumps(view, ensure_ascii=False))
        return
    click.echo(f"fan {fan_id}: " + ", ".join(f"{i['account']}/{i['openid']} (identity {i['id']})" for i in identities))
    click.echo(f"messages counted: {view['messages_counted']}  model: {view['model_version'] or 'none yet'}")
    if not view["tags"]:
        click.echo("no tags yet")
    for tag in view["tags"]:
        click.echo(f"  {tag['tag']:<12} {tag['kind']:<9} {tag['source']:<6} score={tag['score']:.2f}")
        for item in tag["evidence"]:
            click.echo(f"      #{item['message_id']}: {item['text'][:60]}")


def _resolve(session: Session, fan: str) -> int | None:
    from sqlmodel import select

    from hub.conversation.identity import resolve
    from hub.core.models import Identity

    if fan.isdigit():
        found = resolve(session, int(fan))  # a merged fan's id shows the fan it was merged into
        return found.id if found is not None else None
    return session.exec(select(Identity.fan_id).where(Identity.external_id == fan)).first()


def _identity_error(exc: Exception) -> click.ClickException:
    return click.ClickException(getattr(exc, "message", str(exc)))


@fans_group.command("merge")
@click.argument("keep", type=int)
@click.argument("other", type=int)
@click.option("--name", "display_name", default=None, help="Which display name to keep when the two differ.")
@click.option("--reason", default="", help="Why (for the log).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def fans_merge(keep: int, other: int, display_name: str | None, reason: str, as_json: bool) -> None:
    """Merge fan OTHER into fan KEEP: identities, messages, tickets, tags, profile and CSAT move to KEEP."""
    from hub.conversation.identity import IdentityError, merge_fans

    try:
        result = merge_fans(command_state(), keep, other, reason=reason, display_name=display_name)
    except IdentityError as exc:
        raise _identity_error(exc) from None
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    moved = result["moved"]
    click.echo(f"fan {other} merged into fan {keep}: {moved['identities']} identities, {moved['messages']} messages, "
               f"{moved['tickets']} tickets ({moved['tickets_merged']} merged into another)")


@fans_group.command("split")
@click.argument("identity", type=int)
@click.option("--reason", default="", help="Why (for the log).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def fans_split(identity: int, reason: str, as_json: bool) -> None:
    """Split identity IDENTITY off its fan: a new fan gets it with its messages and its account's tickets."""
    from hub.conversation.identity import IdentityError, split_identity

    try:
        result = split_identity(command_state(), identity, reason=reason)
    except IdentityError as exc:
        raise _identity_error(exc) from None
    if as_json:
        click.echo(json.dumps(result, ensure_ascii=False))
        return
    click.echo(f"identity {identity} split off fan {result['from_fan_id']} into new fan {result['fan_id']}: "
               f"{result['moved']['messages']} messages, {result['moved']['tickets']} tickets")


@fans_group.command("crm")
@click.argument("fan", type=int)
@click.argument("crm_id", required=False)
def fans_crm(fan: int, crm_id: str | None) -> None:
    """Attach CRM_ID (an outside CRM's id) to fan FAN; without CRM_ID, remove it."""
    from hub.conversation.identity import IdentityError, set_crm_id

    try:
        found = set_crm_id(command_state(), fan, crm_id)
    except IdentityError as exc:
        raise _identity_error(exc) from None
    click.echo(f"fan {found.id}: CRM id {found.crm_id or '(none)'}")
