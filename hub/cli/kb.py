"""`hub kb ...`: the knowledge base from a terminal."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from hub.cli.common import command_state, echo_figures


@click.group("kb")
def kb_group() -> None:
    """Knowledge base: import, export, evaluate, proposals."""


@kb_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--replace", is_flag=True, help="Disable entries that are not in the file.")
@click.option("--no-rebuild", is_flag=True, help="Do not build the index now (a worker builds it later).")
def kb_import(file: Path, replace: bool, no_rebuild: bool) -> None:
    """Import entries from JSONL, CSV or Excel (id, question, similar, answer, category, link_url, enabled)."""

    from hub.core.db import session_scope
    from hub.kb import KbFileError, import_rows, read_entries, rebuild_kb_index

    try:
        rows = read_entries(file)
    except KbFileError as exc:
        raise click.ClickException(f"{file}: {exc} — nothing was imported") from exc
    state = command_state()
    with session_scope(state.engine) as session:
        counts = import_rows(session, rows, replace=replace)
    click.echo(f"{file}: {counts['created']} created, {counts['updated']} updated, {counts['disabled']} disabled")
    if not no_rebuild:
        click.echo(f"index {_rebuild_with_progress(rebuild_kb_index)} built and active")


def _rebuild_with_progress(rebuild: Any) -> str:
    """Rebuild the index with a progress bar over the texts that need embedding (on stderr)."""
    from tqdm import tqdm

    bar: list[Any] = []

    def progress(done: int, total: int) -> None:
        if not bar:
            bar.append(tqdm(total=total, desc="embedding entries", unit="text", file=sys.stderr))
        bar[0].update(done - bar[0].n)

    try:
        return str(rebuild(progress=progress))
    finally:
        if bar:
            bar[0].close()


@kb_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def kb_export(file: Path) -> None:
    """Write every entry (with hit and unhelpful counts) to JSONL, CSV or Excel."""
    from sqlmodel import Session

    from hub.kb import export_rows, write_entries

    with Session(command_state().engine) as session:
        count = write_entries(file, export_rows(session))
    click.echo(f"{count} entries written to {file}")


@kb_group.command("rebuild")
def kb_rebuild() -> None:
    """Build the index now and make it active (workers and web processes pick it up within a second)."""

    from hub.kb import rebuild_kb_index

    command_state()
    click.echo(f"index {_rebuild_with_progress(rebuild_kb_index)} built and active")


@kb_group.command("eval")
@click.option("--kb", "kb_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--queries", "queries_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
@click.option("--target-precision", type=click.FloatRange(0.5, 0.999), default=None,
              help="Calibrate toward this precision (default: HUB_KB_TARGET_PRECISION, 0.90).")
@click.option("--lexical", is_flag=True, help="Evaluate without the sentence encoder.")
def kb_eval(kb_path: str, queries_path: str, as_json: bool, target_precision: float | None, lexical: bool) -> None:
    """Evaluate the retriever and the bot's real decision thresholds on a KB and labelled queries: the KB is
    indexed and calibrated from its own entries (as on a rebuild), never from the queries."""

    from hub.core.config import load_config
    from knowledge.encoder import encoder_error, load_encoder
    from knowledge.kb_eval import KbFileError, evaluate_files

    config = load_config()
    encoder = None if lexical else load_encoder(config.kb_encoder)
    if encoder is None and not lexical:
        click.echo(f"sentence encoder unavailable ({encoder_error(config.kb_encoder)}): lexical retriever", err=True)
    try:
        figures = evaluate_files(kb_path, queries_path, encoder, target_precision or config.kb_target_precision)
    except KbFileError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(json.dumps(figures, ensure_ascii=False))
        return
    echo_figures({k: v for k, v in figures.items() if not isinstance(v, dict)}, False)


@kb_group.command("term")
@click.argument("term")
@click.option("--means", default=None, help="Make TERM a synonym of this word.")
def kb_term(term: str, means: str | None) -> None:
    """Add a brand/product term to the tokenizer's dictionary, or a synonym with --means."""
    from sqlmodel import select

    from hub.core.db import session_scope
    from hub.kb import KbTerm

    if not term.strip() or len(term) > 100:
        raise click.ClickException("a term is 1–100 characters")
    with session_scope(command_state().engine) as session:
        if session.exec(select(KbTerm).where(KbTerm.term == term)).first():
            raise click.ClickException(f"{term!r} is there already")
        session.add(KbTerm(term=term.strip(), means=means.strip() if means else None))
    click.echo(f"added {term!r}" + (f" meaning {means!r}" if means else "") + "; run `hub kb rebuild` to apply")


@kb_group.command("proposals")
@click.option("--json", "as_json", is_flag=True)
def kb_proposals(as_json: bool) -> None:
    """Questions the bot could not answer, with the answers agents gave."""
    from sqlmodel import Session, select

    from hub.kb import KbProposal

    with Session(command_state().engine) as session:
        rows = session.exec(select(KbProposal).where(KbProposal.status == "open").order_by(KbProposal.id)).all()
    items = [{"id": p.id, "question": p.question, "answer": p.answer, "created_at": p.created_at.isoformat()}
             for p in rows]
    if as_json:
        click.echo(json.dumps(items, ensure_ascii=False))
        return
    for item in items:
        click.echo(f"#{item['id']:<5} {item['question'][:50]!r} -> {item['answer'][:50]!r}")


@kb_group.command("accept")
@click.argument("proposal_id", type=int)
@click.option("--answer", default=None, help="The answer, if the agent's needs rewording.")
def kb_accept(proposal_id: int, answer: str | None) -> None:
    """Turn a proposal into a knowledge-base entry and rebuild the index."""

    from hub.core.db import session_scope
    from hub.kb import accept_proposal, request_rebuild

    state = command_state()
    try:
        with session_scope(state.engine) as session:
            entry = accept_proposal(session, proposal_id, answer=answer)
            key = entry.external_id
    except (LookupError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    request_rebuild(state)
    click.echo(f"entry {key} added; the index is rebuilt by a worker")
