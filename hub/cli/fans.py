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
        identities = [{"account": key, "openid": ident.external_id, "subscribed": ident.subscribed,
                       "referral_scene": ident.referral_scene} for ident, key in rows]
        view = {"fan_id": fan_id, "identities": identities, **interests_of(session, fan_id)}
    if as_json:
        click.echo(json.dumps(view, ensure_ascii=False))
        return
    click.echo(f"fan {fan_id}: " + ", ".join(f"{i['account']}/{i['openid']}" for i in identities))
    click.echo(f"messages counted: {view['messages_counted']}  model: {view['model_version'] or 'none yet'}")
    if not view["tags"]:
        click.echo("no tags yet")
    for tag in view["tags"]:
        click.echo(f"  {tag['tag']:<12} {tag['kind']:<9} {tag['source']:<6} score={tag['score']:.2f}")
        for item in tag["evidence"]:
            click.echo(f"      #{item['message_id']}: {item['text'][:60]}")


def _resolve(session: Session, fan: str) -> int | None:
    from sqlmodel import select

    from hub.core.models import Identity

    if fan.isdigit():
        return int(fan)
    return session.exec(select(Identity.fan_id).where(Identity.external_id == fan)).first()
