"""`hub kb ...`: the knowledge base from a terminal."""

from __future__ import annotations

import json
from pathlib import Path

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
        version = rebuild_kb_index()
        click.echo(f"index {version} built and active")


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
    click.echo(f"index {rebuild_kb_index()} built and active")


@kb_group.command("eval")
@click.option("--kb", "kb_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--queries", "queries_path", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True)
def kb_eval(kb_path: str, queries_path: str, as_json: bool) -> None:
    """Evaluate the retriever and the bot's real decision threshold on a KB and labelled queries."""

    from knowledge.kb_eval import evaluate_files

    echo_figures(evaluate_files(kb_path, queries_path), as_json)


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
