"""`hub tokens`: per-user API tokens for `Authorization: Bearer TOKEN` on /api/v1 (the user's role applies)."""

from __future__ import annotations

import json

import click

from hub.cli.common import command_state


@click.group("tokens")
def tokens_group() -> None:
    """API tokens: `Authorization: Bearer TOKEN` on /api/v1, acting with the user's role."""


@tokens_group.command("create")
@click.argument("email")
@click.option("--name", default="", help="What the token is for (shown by `hub tokens list`).")
def tokens_create(email: str, name: str) -> None:
    """Create a token for an active user and print it (only the token, on stdout: it is not shown again)."""
    from hub.web.tokens import TokenError, create_token

    try:
        token = create_token(command_state().engine, email, name)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(token)


@tokens_group.command("list")
@click.argument("email", required=False)
@click.option("--json", "as_json", is_flag=True, help="A JSON array.")
def tokens_list(email: str | None, as_json: bool) -> None:
    """Every token (or one user's): id, user, name, prefix, when created, last used and revoked."""
    from hub.web.tokens import list_tokens

    rows = list_tokens(command_state().engine, email)
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        status = f"revoked {row['revoked_at']}" if row["revoked_at"] else f"last used {row['last_used_at'] or 'never'}"
        click.echo(f"#{row['id']:<5} {row['email']:<30} {row['prefix']}…  {row['name'] or '-':<20} "
                   f"created {row['created_at']}  {status}")


@tokens_group.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
def tokens_revoke(token_id: int) -> None:
    """Revoke a token (the id from `hub tokens list`): it stops working at once."""
    from hub.web.tokens import TokenError, revoke_token

    try:
        revoked = revoke_token(command_state().engine, token_id)
    except TokenError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"token {token_id} revoked" if revoked else f"token {token_id} was already revoked")
