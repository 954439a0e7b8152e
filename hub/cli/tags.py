"""`hub tags ...`: interest tags from a terminal — define, label, train, retag, sync to WeChat, evaluate."""

from __future__ import annotations

import json
import re
from typing import Any

import click

from hub.cli.common import command_state, echo_figures

TAG_KINDS = ("interest", "manual", "system")  # hub.tags.TAG_KINDS, spelled out for a quick `hub --help`


def _retrain_later(state: Any) -> None:
    from hub.tags import request_training

    if request_training(state, "interest"):
        click.echo("a worker retrains the interest model (or run: hub tags train)")
    else:
        click.echo("run `hub tags train` to retrain the interest model (the queue is unavailable)")


@click.group("tags")
def tags_group() -> None:
    """Interest, manual and system tags; examples; training; retagging; WeChat sync; evaluation."""


@tags_group.command("add")
@click.argument("name")
@click.option("--kind", type=click.Choice(TAG_KINDS), default="interest", show_default=True)
@click.option("--description", default="", help="What the tag means, for operators.")
@click.option("--keywords", default="", help="Seed keywords, comma-separated (cold start before examples).")
def tags_add(name: str, kind: str, description: str, keywords: str) -> None:
    """Define a tag (a deleted tag of that name is restored)."""
    from hub.core.db import session_scope
    from hub.tags import TagError, create_tag

    state = command_state()
    words = [w for w in re.split(r"[,，、]", keywords) if w.strip()]
    try:
        with session_scope(state.engine) as session:
            tag = create_tag(session, name, kind, description, words)
            shown = f"{tag.kind} tag {tag.name!r}" + (f" with {len(words)} seed keywords" if words else "")
    except TagError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{shown} added")
    if kind == "interest":
        _retrain_later(state)


@tags_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array.")
def tags_list(as_json: bool) -> None:
    """The tags (deleted ones left out) and how many fans carry each."""
    from sqlalchemy import func
    from sqlmodel import Session, select

    from hub.tags import FanTag, Tag, tag_dict

    with Session(command_state().engine) as session:
        counts = dict(session.exec(select(FanTag.tag_id, func.count()).where(FanTag.active == True)  # noqa: E712
                                   .group_by(FanTag.tag_id)).all())
        rows = [tag_dict(t, counts.get(t.id, 0)) for t in
                session.exec(select(Tag).where(Tag.deleted_at == None).order_by(Tag.id)).all()]  # noqa: E711
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False))
        return
    for row in rows:
        keywords = ",".join(row["keywords"])
        click.echo(f"{row['name']:<16} {row['kind']:<9} fans={row['fans']:<6} {keywords}  {row['description']}")


@tags_group.command("remove")
@click.argument("name")
def tags_remove(name: str) -> None:
    """Delete a tag: it leaves every fan at once, and models that still predict it are ignored for it."""

    from hub.core.db import session_scope
    from hub.tags import TagError, delete_tag

    state = command_state()
    try:
        with session_scope(state.engine) as session:
            kind = delete_tag(session, name).kind
    except TagError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"tag {name!r} deleted")
    if kind == "interest":
        _retrain_later(state)


@tags_group.command("label")
@click.option("--kind", type=click.Choice(["interest", "intent"]), required=True)
@click.argument("text")
@click.argument("label")
def tags_label(kind: str, text: str, label: str) -> None:
    """Add a labelled example (LABEL: an interest tag's name or `none`; or an intent)."""

    from hub.core.db import session_scope
    from hub.tags import TagError, add_example

    try:
        with session_scope(command_state().engine) as session:
            example = add_example(session, kind, text, label)
            shown = f"example {example.id}: {example.text[:40]!r} → {example.label}"
    except TagError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{shown} (train with: hub tags train --kind {kind})")


@tags_group.command("train")
@click.option("--kind", type=click.Choice(["interest", "intent"]), default="interest", show_default=True)
@click.option("--force", is_flag=True, help="Make the new model active even if it evaluates worse.")
def tags_train(kind: str, force: bool) -> None:
    """Train now, in this process; the new model replaces the active one only if it is no worse."""

    from tqdm import tqdm

    from hub.tags import train_tag_model
    from knowledge.classifier import TrainingError

    command_state()
    with tqdm(total=100, desc=f"training {kind}", unit="%", leave=False) as bar:

        def progress(fraction: float, message: str) -> None:
            bar.set_postfix_str(message[:40])
            bar.update(max(0, round(fraction * 100) - bar.n))

        try:
            result = train_tag_model(kind, force=force, progress=progress)
        except TrainingError as exc:
            raise click.ClickException(str(exc)) from exc
    metrics = result["metrics"]
    figures = ", ".join(f"{k} {metrics[k]}" for k in ("accuracy", "macro_f1", "held_back", "train_examples",
                                                      "train_s") if metrics.get(k) is not None)
    click.echo(f"{kind} model {result['version']}: {figures}")
    click.echo(f"{'accepted' if result['accepted'] else 'rejected'}: {result['reason']}")


@tags_group.command("retag")
def tags_retag() -> None:
    """Recompute every fan's interest profile from their history with the active model."""

    from tqdm import tqdm

    from hub.tags import RetagError, retag_all, total_fans

    state = command_state()
    try:
        with tqdm(total=total_fans(state), desc="retagging", unit="fan") as bar:
            result = retag_all(state, progress=bar.update)
    except RetagError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"{result['fans']} fans, {result['messages']} messages retagged with {result['model_version']} "
               f"in {result['seconds']} s")


@tags_group.command("sync")
@click.option("--queue", "queued", is_flag=True, help="Leave it to the workers (retried on transient failures).")
@click.option("--full", is_flag=True, help="Push every fan's tags, not only the changes since the last sync.")
def tags_sync(queued: bool, full: bool) -> None:
    """Sync interest and manual tags to the user tags of every WeChat account."""
    from sqlmodel import Session, select

    from channels.base import SendError
    from hub.core.models import Account
    from hub.tags import request_sync, sync_account

    state = command_state()
    if queued:
        click.echo(f"sync queued for {len(request_sync(state))} accounts")
        return
    with Session(state.engine) as session:
        accounts = session.exec(select(Account.id, Account.key).where(Account.channel == "wechat")).all()
    for account_id, key in accounts:
        try:
            report = sync_account(state, account_id, full=full)
        except SendError as exc:
            raise click.ClickException(f"account {key!r}: {exc.message} — run again later, or use --queue "
                                       "to let a worker retry") from exc
        click.echo(f"{key}: {len(report['created'])} tags created, {len(report['deleted'])} deleted, "
                   f"{report['tagged']} taggings, {report['untagged']} untaggings, "
                   f"{len(report['not_synced'])} not synced")
        for item in report["not_synced"][:10]:
            click.echo(f"  not synced: {item['tag']} {item.get('openid', '')}: {item['reason']}")


@tags_group.command("eval")
@click.option("--train", "train_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--test", "test_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
def tags_eval(train_path: str, test_path: str, as_json: bool) -> None:
    """Train on T, evaluate on S: accuracy, macro-F1, training time, predictions per second."""

    from knowledge.classify_io import LabelFileError
    from knowledge.tag_eval import evaluate_files

    try:
        result = evaluate_files(train_path, test_path)
    except LabelFileError as exc:  # "FILE:LINE: what is wrong"
        raise click.ClickException(str(exc)) from exc
    except ValueError as exc:  # e.g. too few examples to train on
        raise click.ClickException(f"{train_path}: {exc}") from exc
    echo_figures(result, as_json)
