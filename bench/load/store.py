"""What the hub stored: the inbound rows (`hub stats`, and per MsgId in the database), the intake files a
stopped hub left behind, and the accounting of the MsgIds sent against the rows stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from .processes import hub
from .wire import KEY, wrk_msgids


def messages_in(env: dict[str, str]) -> int:
    return int(json.loads(hub(env, "stats", "--json"))["messages_in"])


def stored_msgids(database_url: str) -> list[str]:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT m.external_id FROM message m JOIN account a ON a.id = m.account_id "
                "WHERE a.key = :key AND m.direction = 'in'"
            ), {"key": KEY})
            return [row[0] for row in rows]
    finally:
        engine.dispose()


def found_in_intake_files(instance: Path, msgids: set[str]) -> dict[str, int]:
    """For MsgIds missing from the database: how many are in an intake journal a stopped hub left behind, and
    how many in the rows the database refused (rejected.jsonl); the rest are nowhere."""
    found = {"journal left behind": 0, "rejected.jsonl": 0, "nowhere": 0}
    if not msgids:
        return found
    files = {path: path.read_bytes() for path in (instance / "intake").glob("*") if path.is_file()}
    for msgid in msgids:
        needle = f'"{msgid}"'.encode()
        where = next((path for path, data in files.items() if needle in data), None)
        key = "nowhere" if where is None else "rejected.jsonl" if where.name == "rejected.jsonl" \
            else "journal left behind"
        found[key] += 1
    return found


def accounting(run_id: str, stored: int, database_url: str, instance: Path, wrk_runs: list[dict[str, Any]],
               tails: list[dict[str, Any]], open_loop: dict[str, Any], duplicates: dict[str, Any]) -> dict[str, Any]:
    """The MsgIds of the hub phases against the inbound rows of this run: `stored` (by `hub stats`) and those in
    the database whose MsgId starts with `run_id`. Every MsgId generated was acknowledged with a 2xx (wrk's
    cut-off tail and the open loop's failures were redelivered), so the stored rows must be exactly these.
    Also counts the duplicate burst's MsgIds stored, into duplicates["stored"]."""
    expected: set[str] = set()
    delivery_failures = 0
    for wrk, tail in zip(wrk_runs, tails, strict=True):
        expected.update(wrk_msgids(wrk))
        # a socket error leaves a request unanswered that may not be in the redelivered tail
        delivery_failures += wrk["non2xx"] + wrk["errors_total"] + (tail["sent"] - tail["ok"])
    expected.update(open_loop["msgids"])
    delivery_failures += open_loop["redelivered"] - open_loop["redelivered_ok"]
    expected.update(duplicates["msgids"])
    delivery_failures += duplicates["deliveries"] - duplicates["ok"]
    rows = [m for m in stored_msgids(database_url) if m and m.startswith(run_id)]
    stored_ids = set(rows)
    missing_ids = expected - stored_ids
    missing = len(missing_ids)
    unexpected = len(stored_ids - expected)
    dup_msgids = set(duplicates["msgids"])
    duplicates["stored"] = sum(1 for m in rows if m in dup_msgids)
    return {
        "acknowledged": len(expected), "stored": stored, "stored_rows_with_run_msgids": len(rows),
        "lost": max(missing, len(expected) - stored, 0), "duplicated": max(len(rows) - len(stored_ids),
                                                                            stored - len(expected), 0),
        "missing_msgids": missing, "unexpected_msgids": unexpected,
        "missing_sample": sorted(missing_ids)[:10],
        "missing_found_in": found_in_intake_files(instance, missing_ids),
        "unexpected_sample": sorted(stored_ids - expected)[:10], "delivery_failures": delivery_failures,
        "wrk_unanswered_redelivered": sum(w["cut_off"] for w in wrk_runs),
    }
