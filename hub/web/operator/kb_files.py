"""The knowledge base's import and export from the operator's page: upload a .jsonl, .csv or .xlsx file (read as
hub.kb.files reads it: every row checked first, the line of the first problem named, nothing imported then), and
download every entry with its hit and "unhelpful" counts in any of those formats."""

from __future__ import annotations

import logging
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Any

from flask import Response, abort, flash, redirect, request, url_for
from flask_babel import gettext
from flask_login import current_user
from sqlmodel import Session

from hub.core.db import session_scope
from hub.kb import KbFileError, export_rows, import_rows, read_entries, request_rebuild, write_entries
from hub.web.operator.blueprint import bp
from hub.web.operator.kb_view import ImportForm, kb_page
from hub.web.operator.tags import hub_state, valid

log = logging.getLogger("hub.web.operator")
MAX_BYTES = 20 * 1024 * 1024
FORMATS = {"jsonl": "application/x-ndjson; charset=utf-8", "csv": "text/csv; charset=utf-8",
           "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}


@bp.post("/kb/import")
def import_kb() -> Any:
    form = ImportForm()
    if not valid(form, "kb import"):
        return kb_page(import_form=form, status=400)
    upload = form.file.data
    name = Path(upload.filename or "upload").name
    data = upload.read(MAX_BYTES + 1)
    try:
        if len(data) > MAX_BYTES:
            raise KbFileError(1, f"the file is larger than {MAX_BYTES // (1024 * 1024)} MB")
        rows = read_entries(name, data)
        if not rows:
            raise KbFileError(1, "the file has no entries")
    except KbFileError as exc:
        reason = str(exc).split(": ", 1)[-1]
        log.warning("kb import refused", extra={"operator_id": current_user.id, "file": name, "line": exc.line,
                                                "reason": reason})
        form.file.errors = [*form.file.errors, gettext("Line %(line)d: %(reason)s. Nothing was imported.",
                                                       line=exc.line, reason=reason)]
        return kb_page(import_form=form, status=400)
    with session_scope(hub_state().engine) as session:
        counts = import_rows(session, rows, replace=bool(form.replace.data))
    if not request_rebuild(hub_state()):
        flash(gettext("The index is rebuilt once the queue (Redis) is back."), "error")
    log.info("kb imported", extra={"operator_id": current_user.id, "file": name,
                                   **{f"entries_{k}": v for k, v in counts.items()}})
    flash(gettext("Imported %(file)s: %(created)d new, %(updated)d changed, %(disabled)d disabled.", file=name,
                  **counts), "ok")
    return redirect(url_for("operator.kb"))


@bp.get("/kb/export")
def export_kb() -> Any:
    fmt = request.args.get("format", "jsonl")
    if fmt not in FORMATS:
        abort(404, description=gettext("Export as jsonl, csv or xlsx."))
    with Session(hub_state().engine) as session:
        rows = export_rows(session)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"kb.{fmt}"
        write_entries(path, rows)
        data = path.read_bytes()
    filename = f"kb-{datetime.now():%Y%m%d-%H%M}.{fmt}"
    return Response(data, mimetype=FORMATS[fmt], headers={"Content-Disposition": f'attachment; filename="{filename}"'})
