"""Conformance of the community (Discourse) channel against the shared protocol fixtures (a script, not a test),
and what a delivery costs.

Checks: the real `ping` golden vector (headers and exact body bytes) and the signed `post_created` /
`topic_created` requests are accepted by channels.community's webhook with their own headers; the post becomes
the expected InboundMessage; one flipped byte or another secret is refused; the forum emulation
(hub.sandbox.community) signs exactly as Discourse does. Then times N deliveries through the webhook against a
plain baseline (HMAC-SHA256 and json.loads of the same bytes, nothing else).

    .venv/bin/python bench/community_conformance.py [--fixtures ../shared/fixtures] [-n 20000]

Prints pass/fail per check and the figures; exits 1 if anything failed.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from werkzeug.exceptions import NotFound
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client, EnvironBuilder

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from channels.base import AccountConfig, InboundMessage  # noqa: E402
from channels.community import CommunityChannel  # noqa: E402
from channels.community.signature import sign, signature_matches  # noqa: E402
from hub.sandbox.community import signature as sandbox_signature  # noqa: E402


def load(fixtures: Path, name: str) -> tuple[str, dict[str, str], bytes]:
    meta = json.loads((fixtures / "discourse" / f"{name}.headers.json").read_text())
    body = (fixtures / "discourse" / meta["body_file"]).read_bytes()
    return meta["secret"], meta["headers"], body


def client_for(secret: str, received: list[InboundMessage], now: float) -> Client:
    accounts = {"forum": AccountConfig(key="forum", channel="community", token=secret)}
    webhook = CommunityChannel.webhook(received.append, accounts.get, clock=lambda: now)
    return Client(DispatcherMiddleware(NotFound(), {"/webhooks/community": webhook}))


def post_time(body: bytes) -> float:
    post = json.loads(body).get("post") or json.loads(body).get("topic") or {}
    moment = post.get("created_at")
    return datetime.fromisoformat(moment).timestamp() if moment else time.time()


def run_checks(fixtures: Path) -> list[tuple[str, bool, str]]:
    results: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: Any = "") -> None:
        results.append((name, bool(ok), str(detail)[:200]))

    vectors = json.loads((fixtures / "crypto_vectors.json").read_text())["discourse_ping"]
    check("crypto_vectors discourse_ping: sign()", sign(vectors["secret"], vectors["raw_body"].encode())
          == vectors["expected_X-Discourse-Event-Signature"])
    for name in ("ping", "post_created", "topic_created"):
        secret, headers, body = load(fixtures, name)
        expected = headers["X-Discourse-Event-Signature"]
        check(f"{name}: sign() matches the fixture's signature", sign(secret, body) == expected)
        check(f"{name}: the sandbox signs the same", sandbox_signature(secret, body) == expected)
        check(f"{name}: signature_matches()", signature_matches(secret, body, expected))
        received: list[InboundMessage] = []
        client = client_for(secret, received, post_time(body))
        response = client.post("/webhooks/community/forum", data=body, headers=headers)
        check(f"{name}: accepted (200)", response.status_code == 200, response.get_data(as_text=True))
        if name == "post_created":
            ok = len(received) == 1
            check("post_created: one message for the hub", ok, received)
            if ok:
                message = received[0]
                check("post_created: fields", (message.channel, message.sender, message.text, message.kind)
                      == ("community", "2401", "Hello from the forum", "text"), message)
                check("post_created: extra", {k: message.extra.get(k) for k in (
                    "topic_id", "category_id", "post_number", "post_id", "version", "username", "event_id")}
                    == {"topic_id": 46582, "category_id": 7, "post_number": 3, "post_id": 79563, "version": 1,
                        "username": "darknao", "event_id": "158765"}, message.extra)
                check("post_created: external id", message.external_id.startswith("post:79563:"), message)
        else:
            check(f"{name}: nothing for the hub", received == [], received)
        tampered = bytearray(body)
        tampered[len(tampered) // 2] ^= 1
        refused = client.post("/webhooks/community/forum", data=bytes(tampered), headers=headers)
        check(f"{name}: one flipped byte refused (403)", refused.status_code == 403, refused.status_code)
        other = client_for(secret + "x", [], post_time(body))
        check(f"{name}: another secret refused (403)",
              other.post("/webhooks/community/forum", data=body, headers=headers).status_code == 403)
    return results


def timing(fixtures: Path, n: int) -> None:
    secret, headers, body = load(fixtures, "post_created")
    received: list[InboundMessage] = []
    client = client_for(secret, received, post_time(body))
    started = time.perf_counter()
    for _ in range(n):
        hmac.compare_digest(hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(), "0" * 64)
        json.loads(body)
    baseline = (time.perf_counter() - started) / n
    started = time.perf_counter()
    for _ in range(n):
        client.post("/webhooks/community/forum", data=body, headers=headers)
    through_client = (time.perf_counter() - started) / n
    accounts = {"forum": AccountConfig(key="forum", channel="community", token=secret)}
    now = post_time(body)
    app = CommunityChannel.webhook(received.append, accounts.get, clock=lambda: now)
    template = EnvironBuilder(path="/forum", method="POST", data=body, headers=headers).get_environ()
    started = time.perf_counter()
    for _ in range(n):
        environ = {**template, "wsgi.input": io.BytesIO(body)}
        b"".join(app(environ, lambda status, headers, exc_info=None: None))
    direct = (time.perf_counter() - started) / n
    assert len(received) == 2 * n
    print(f"\n{n} post_created deliveries, in process:")
    print(f"  baseline HMAC + json.loads     : {baseline * 1e6:8.1f} µs per delivery")
    print(f"  webhook WSGI app, called alone : {direct * 1e6:8.1f} µs per delivery "
          f"({1 / direct:,.0f} per second, {direct / baseline:.1f}x the baseline)")
    print(f"  through werkzeug's test client : {through_client * 1e6:8.1f} µs per delivery")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixtures", type=Path, default=ROOT.parent / "shared" / "fixtures")
    parser.add_argument("-n", type=int, default=20000, help="deliveries to time")
    args = parser.parse_args()
    results = run_checks(args.fixtures)
    for name, ok, detail in results:
        print(f"{'ok  ' if ok else 'FAIL'} {name}" + ("" if ok else f": {detail}"))
    failed = sum(not ok for _, ok, _ in results)
    print(f"\n{len(results) - failed} passed, {failed} failed")
    if args.n > 0:
        timing(args.fixtures, args.n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
