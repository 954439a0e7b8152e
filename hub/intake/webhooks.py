"""The hub's side of every webhook: decide a passive reply within the budget, store the message with that
reply in one write (the database's unique key dedupes), queue the rest of the work. A message is accepted
when the write commits, or when it is appended to the intake journal (hub.intake.journal); until then
WeChat's retries (it waits 5 s) keep it from being lost.

There is no Redis pre-check for duplicates: WeChat retries only deliveries it got no answer for, so a
round trip on every message to spare the rare retry some work cost more than it saved (about an eighth of
the webhook's CPU). A retry computes its reply, loses the insert and answers with the stored reply (a
journaled retry answers with the reply it computed, and its copy loses the insert when it is loaded)."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from sqlmodel import Session, select

from bots.base import Decision, Reply
from channels.base import AccountConfig, InboundMessage, OutboundMessage, WebhookRejected
from hub.conversation import decide_by_rest, decide_by_rules, person_holds, rest_may_reply
from hub.core import metrics
from hub.core.accounts import KnownAccount, find_account
from hub.core.models import Message
from hub.core.state import HubState
from hub.intake import inbox
from hub.intake.accept import fan_for, store
from hub.intake.reply_load import DecisionLoad

log = logging.getLogger("hub.intake.webhooks")
REPLY_THREADS = 4  # decisions under the reply budget at once, per web process


class WebhookHandler:
    """`passive=False` for channels that cannot carry a reply in the webhook's answer (a forum): every answer
    then goes through the channel's API, from the worker."""

    def __init__(self, state: HubState, *, passive: bool = True) -> None:
        self.state = state
        self.passive = passive
        self._pool: ThreadPoolExecutor | None = None
        self._slots = threading.BoundedSemaphore(REPLY_THREADS)
        self._load = DecisionLoad()

    def lookup(self, key: str) -> AccountConfig | None:
        known = find_account(self.state, key)
        return known.config if known else None

    def __call__(self, inbound: InboundMessage) -> OutboundMessage | None:
        known = find_account(self.state, inbound.account)
        if known is None:
            raise WebhookRejected(404, "unknown account key")
        fan = fan_for(self.state, known.id, inbound)
        reply = self._passive_reply(known, inbound, fan.fan_id)
        stored = store(self.state, fan, inbound, reply)
        metrics.MESSAGES_IN.labels(inbound.channel, inbound.kind, str(stored.duplicate).lower()).inc()
        if stored.duplicate:  # a retried delivery (or a concurrent copy) was stored first: same reply
            log.info("duplicate delivery", extra={"account": inbound.account, "external_id": inbound.external_id})
            return self._stored_reply(stored.message_id, inbound)
        if stored.message_id is not None:  # a journaled message is pushed once it is loaded
            inbox.push(self.state, stored.message_id)  # what never reaches Redis, the sweeper enqueues
        return OutboundMessage(inbound.account, inbound.sender, text=reply.text) if reply else None

    def _passive_reply(self, known: KnownAccount, inbound: InboundMessage, fan_id: int) -> Reply | None:
        """Rules inline; the other bots under the budget. A late or failed decision is left to the worker."""
        if not self.passive:
            return None
        started = time.monotonic()
        try:
            decision: Decision = decide_by_rules(self.state, known.id, inbound.account, inbound)
        except Exception:  # never let a reply problem keep the message from being stored
            log.exception("a rule bot failed in the webhook, the worker retries", extra={"sender": inbound.sender})
            return None
        if decision is None and rest_may_reply(self.state, known.id):
            budget = self.state.config.reply_budget_ms / 1000 - (time.monotonic() - started)
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=REPLY_THREADS, thread_name_prefix="reply")
            # Every reply thread busy (a burst, a slow model): queueing would only miss the budget later and
            # delay the threads' next answers; the worker answers this one through the API at once.
            # Decisions already take half of this process's time: more would queue requests (see reply_load).
            if self._load.overloaded() or not self._slots.acquire(blocking=False):
                metrics.PASSIVE_TIMEOUTS.inc()
                return None
            submitted = time.monotonic()
            future = self._pool.submit(decide_by_rest, self.state, known.id, inbound.account, inbound, fan_id)

            def done(_f: object, submitted: float = submitted) -> None:
                self._load.add(time.monotonic() - submitted)
                self._slots.release()

            future.add_done_callback(done)
            try:
                decision = future.result(timeout=max(0.0, budget))
            except FutureTimeout:
                metrics.PASSIVE_TIMEOUTS.inc()
                log.warning("no reply within the budget, the worker answers", extra={"sender": inbound.sender})
                return None
            except Exception:
                log.exception("a bot failed in the webhook, the worker retries", extra={"sender": inbound.sender})
                return None
        # Hand-offs and silence are the worker's to act on (tickets, customer-service messages).
        if not isinstance(decision, Reply):
            return None
        if not inbound.is_event and person_holds(self.state, known.id, fan_id):
            return None  # a person handles this fan: the message joins their ticket (the worker)
        return decision

    def _stored_reply(self, message_id: int, inbound: InboundMessage) -> OutboundMessage | None:
        with Session(self.state.engine) as session:
            text = session.exec(
                select(Message.text).where(Message.reply_to_id == message_id, Message.via == "passive")
            ).first()
        return OutboundMessage(account=inbound.account, recipient=inbound.sender, text=text) if text else None
