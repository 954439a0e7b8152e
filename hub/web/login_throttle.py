"""Login throttling: slow password guessing down without letting anyone keep an account's owner out.

Counters live in Redis, shared by every web process:

- **Per address, across all e-mails.** 10 failures within 15 minutes are free; from then on each failure makes
  the address wait 1, 2, 4 … seconds (at most 15 minutes) before its next try, whatever the e-mail. One address
  trying many e-mails (credential stuffing) is slowed down.
- **Per account** (every e-mail, known or not, so the answers do not tell which exist). Once it has had 5
  failures within an hour from browsers it does not know, an address that fails on it must wait 1, 2, 4 …
  seconds (at most 15 minutes) before trying *this account* again. The waits are per address, so an attacker
  never makes anyone else wait: a new address's first try is never delayed (the owner is not locked out),
  while many addresses guessing one account get about one fast guess each.
- **Per known browser.** A successful login leaves a signed cookie (path /login, 90 days) naming the account.
  A browser presenting it for that account skips both waits (so an attacker sharing the owner's address — an
  office NAT, or a proxy not declared in HUB_TRUSTED_PROXIES — cannot keep the owner out) until that browser has
  itself failed 10 times within an hour: a stolen cookie buys 10 guesses, no more.

If Redis cannot be reached the throttle fails open, with a log line: the password check still stands (a slow
hash), an attacker cannot take Redis down from the login form, and failing closed would lock every agent out
of the console while Redis is out. The session store is Redis as well and refuses with 503 meanwhile, so in
practice a login succeeds only once Redis is back.
"""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from dataclasses import dataclass

import redis
from flask import Response, current_app, request
from itsdangerous import BadData, URLSafeTimedSerializer

log = logging.getLogger("hub.web.auth")

ADDRESS_FREE, ADDRESS_WINDOW = 10, 15 * 60
ACCOUNT_FREE, ACCOUNT_WINDOW = 5, 60 * 60
BROWSER_FREE, BROWSER_WINDOW = 10, 60 * 60
MAX_WAIT = 15 * 60
BROWSER_COOKIE, BROWSER_DAYS = "hub_known_browser", 90
_PREFIX = "hub:login:"


@dataclass(frozen=True)
class Attempt:
    address: str
    account: str  # a digest of the e-mail: no addresses in key names
    browser: str | None  # the id of this browser's cookie, if it holds one for this account


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="hub.login-known-browser")


def _account(email: str) -> str:
    return hashlib.sha256(email.encode()).hexdigest()[:32]


def attempt_for(email: str) -> Attempt:
    account, browser = _account(email), None
    cookie = request.cookies.get(BROWSER_COOKIE)
    if cookie:
        try:
            holder, browser_id = _serializer().loads(cookie, max_age=BROWSER_DAYS * 86400)
        except (BadData, ValueError, TypeError):
            holder = browser_id = None
        if holder == account:
            browser = str(browser_id)
    return Attempt(request.remote_addr or "unknown", account, browser)


def _waits(attempt: Attempt) -> list[str]:
    return [f"{_PREFIX}wait:address:{attempt.address}", f"{_PREFIX}wait:account:{attempt.account}:{attempt.address}"]


def wait_seconds(client: redis.Redis, attempt: Attempt) -> int:
    """How long this attempt must wait before its password is even checked (0: go ahead)."""
    try:
        if attempt.browser is not None:
            failures = int(client.get(f"{_PREFIX}browser:{attempt.browser}") or 0)
            if failures < BROWSER_FREE:
                return 0
        pipe = client.pipeline()
        for key in _waits(attempt):
            pipe.pttl(key)
        return math.ceil(max(0, *pipe.execute()) / 1000)
    except redis.RedisError as exc:
        log.warning("login throttling unavailable (Redis), letting the attempt through",
                    extra={"error": type(exc).__name__})
        return 0


def _delay(failures: int, free: int) -> int:
    return min(2 ** min(failures - free, 20), MAX_WAIT)


def record_failure(client: redis.Redis, attempt: Attempt) -> None:
    try:
        if attempt.browser is not None:
            key = f"{_PREFIX}browser:{attempt.browser}"
            if client.pipeline().incr(key).expire(key, BROWSER_WINDOW).execute()[0] <= BROWSER_FREE:
                return  # a known browser's own budget; beyond it, it counts like any other
        address_key, account_key = f"{_PREFIX}address:{attempt.address}", f"{_PREFIX}account:{attempt.account}"
        by_address, by_account = client.pipeline().incr(address_key).incr(account_key).execute()[:2]
        pipe = client.pipeline()
        pipe.expire(address_key, ADDRESS_WINDOW + MAX_WAIT).expire(account_key, ACCOUNT_WINDOW)
        address_wait, account_wait = _waits(attempt)
        if by_address >= ADDRESS_FREE:
            pipe.set(address_wait, 1, ex=_delay(by_address, ADDRESS_FREE))
        if by_account >= ACCOUNT_FREE:
            pipe.set(account_wait, 1, ex=_delay(by_account, ACCOUNT_FREE))
        pipe.execute()
    except redis.RedisError as exc:
        log.warning("login throttling unavailable (Redis), failure not counted", extra={"error": type(exc).__name__})


def remember_browser(response: Response, email: str) -> None:
    """After a successful login: this browser may try this account without the waits (see the module text)."""
    value = _serializer().dumps([_account(email), secrets.token_urlsafe(16)])
    response.set_cookie(BROWSER_COOKIE, value, max_age=BROWSER_DAYS * 86400, path="/login",
                        secure=request.is_secure, httponly=True, samesite="Lax")


def message(wait: int) -> str:
    when = time.strftime("%H:%M:%S", time.gmtime(time.time() + wait))
    amount = f"{wait} second{'s' if wait != 1 else ''}" if wait < 120 else f"{math.ceil(wait / 60)} minutes"
    return f"Too many failed attempts. Try again in {amount} (at {when} UTC)."
