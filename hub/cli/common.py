"""What every `hub` subcommand shares: the hub state for a command, and printing figures."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from hub.core.state import HubState


def command_state() -> HubState:
    """The hub's state for one CLI command (configuration from HUB_* variables)."""
    from hub.app import create_state  # imported late: `hub --help` should not load the app

    return create_state()


def echo_figures(figures: Mapping[str, Any], as_json: bool, width: int = 20) -> None:
    """One JSON object, or one aligned `name  value` line per figure."""
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False))
        return
    for key, value in figures.items():
        click.echo(f"{key:>{width}}  {value}")
