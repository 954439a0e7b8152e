"""What every part of the hub stands on: configuration (`config`), the database (`db`, `sqlite_writer`,
`prepared`), Redis (`redis_conn`), the one enqueue helper (`queue`), the process state (`state`), logging,
metrics and health endpoints, versioned artefacts shared by processes (`blob_holder`), and the shared tables
(`models`: account, fan, identity, message, user, model blob; `accounts`: the account as a channel sees it).

hub.core imports nothing else of the hub. Its modules each do one job and are imported by name
(`from hub.core.db import session_scope`)."""
