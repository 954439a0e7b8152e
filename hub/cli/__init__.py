"""The `hub` command. Every command exits non-zero with a one-line reason on failure."""

from __future__ import annotations

import logging
import sys

import click

from hub.cli.admin import account_group, rules_group, user_group
from hub.cli.agents import agents_group
from hub.cli.common import echo_figures
from hub.cli.fans import fans_group
from hub.cli.kb import kb_group
from hub.cli.run import demo, sandbox_group, serve, simulate, worker
from hub.cli.tags import tags_group
from hub.cli.teams import teams_group
from hub.cli.tickets import tickets_group
from hub.cli.tokens import tokens_group


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Fan-service hub for brands on WeChat."""


@cli.group("db")
def db_group() -> None:
    """Database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema (Alembic)."""
    from hub.app import create_state
    from hub.core.migrate import upgrade

    state = create_state()
    upgrade(state.engine, revision)
    click.echo(f"database at revision {revision}: {state.engine.url.render_as_string(hide_password=True)}")


@cli.command("stats")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def stats(as_json: bool) -> None:
    """Counts of fans, messages, tickets and jobs."""
    from hub.app import create_state
    from hub.web import collect

    echo_figures(collect(create_state()), as_json)


for command in (account_group, user_group, rules_group, kb_group, tags_group, fans_group, tokens_group, teams_group,
                agents_group, tickets_group, demo, serve, worker, sandbox_group, simulate):
    cli.add_command(command)


def main() -> None:
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code or 1)
    except Exception as exc:  # one line, not a traceback, for a user at a terminal
        logging.getLogger("hub.cli").debug("command failed", exc_info=True)
        click.echo(f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", err=True)
        sys.exit(1)
