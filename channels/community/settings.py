"""What a community account's row means to the channel (see `hub account add community`).

The Account row holds: `token` = the webhook secret, `app_secret` = the API key, `api_base` = the forum's base
URL; `settings` holds `api_username` (whom the API key posts as, default "system"), `categories` (the category
ids the bot answers in; empty: every category) and optionally `max_age_hours` (how old a post a delivery may
carry before it counts as a stale replay, default 168)."""

from __future__ import annotations

from dataclasses import dataclass

from channels.base import AccountConfig

DEFAULT_API_USERNAME = "system"
DEFAULT_MAX_AGE_HOURS = 7 * 24


@dataclass(frozen=True, slots=True)
class ForumSettings:
    secret: str
    api_base: str
    api_key: str
    api_username: str
    categories: frozenset[int]  # empty: every category
    max_age_seconds: float

    def serves(self, category_id: int | None) -> bool:
        """Whether the bot answers in a topic of this category."""
        return not self.categories or category_id in self.categories

    def is_own(self, username: str) -> bool:
        """Whether a post is the hub's own (posted with the account's API username)."""
        return username.casefold() == self.api_username.casefold()


def parse_categories(value: object) -> frozenset[int]:
    """Category ids from a list of ids or a "5,7" string; raises ValueError on anything else."""
    if value is None or value == "" or value == []:
        return frozenset()
    if isinstance(value, str):
        items: list[object] = value.split(",")
    elif isinstance(value, list | tuple | set | frozenset):
        items = list(value)
    else:
        raise ValueError("categories must be a list of category ids")
    ids = set()
    for item in items:
        text = str(item).strip()
        if isinstance(item, bool) or not text.isascii() or not text.isdigit() or len(text) > 12:
            raise ValueError(f"a category id is a positive number, not {text!r}")
        ids.add(int(text))
    return frozenset(ids)


def forum_settings(account: AccountConfig) -> ForumSettings:
    settings = account.settings or {}
    max_age = settings.get("max_age_hours", DEFAULT_MAX_AGE_HOURS)
    try:
        max_age_seconds = float(max_age) * 3600
        categories = parse_categories(settings.get("categories"))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"community account {account.key!r} is misconfigured: {exc}") from None
    return ForumSettings(
        secret=account.token,
        api_base=(account.api_base or "").rstrip("/"),
        api_key=account.app_secret,
        api_username=str(settings.get("api_username") or DEFAULT_API_USERNAME),
        categories=categories,
        max_age_seconds=max_age_seconds,
    )
