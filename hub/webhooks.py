"""The hub's side of every webhook: accept the message, answer within the budget, queue the rest."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from sqlmodel import Session, select

from bots.base import Reply
from channels.base import AccountConfig, InboundMessage, OutboundMessage, WebhookRejected
from hub import kb_effects, metrics
from hub.accept import accept
from hub.accounts import find_account
from hub.db import session_scope
from hub.models import REPLY_PASSIVE, Message
from hub.pipeline import decide_for
from hub.replies import claim_reply, record_outbound, reply_meta
from hub.state import HubState
from hub.tasks import enqueue_process

log = logging.getLogger("hub.webhooks")


class WebhookHandler:
    def __init__(self, state: HubState) -> None:
        self.state = state
        self._pool: ThreadPoolExecutor | None = None

    def lookup(self, key: str) -> AccountConfig | None:
        known = find_account(self.state, key)
        return known.config if known else None

    def __call__(self, inbound: InboundMessage) -> OutboundMessage | None:
        known = find_account(self.state, inbound.account)
        if known is None:
            raise WebhookRejected(404, "unknown account key")
        accepted = accept(self.state, known.id, inbound)
        metrics.MESSAGES_IN.labels(inbound.channel, inbound.kind, str(accepted.duplicate).lower()).inc()
        if accepted.duplicate:
            log.info("duplicate delivery", extra={"account": inbound.account, "external_id": inbound.external_id})
            return self._stored_reply(accepted.message_id, inbound)
        assert accepted.message_id is not None
        reply = self._passive_reply(known.id, inbound, accepted.message_id)
        try:
            enqueue_process(accepted.message_id)
        except Exception:  # stored is accepted: whatever the queue did, the sweeper enqueues it later
            log.exception("enqueue failed, left for the sweeper", extra={"message_id": accepted.message_id})
        return reply

    def _passive_reply(self, account_id: int, inbound: InboundMessage, message_id: int) -> OutboundMessage | None:
        """Decide within the budget; a late or failed decision is left to the worker (never lost)."""
        budget = self.state.config.reply_budget_ms / 1000
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="reply")
        future = self._pool.submit(decide_for, self.state, account_id, inbound.account, inbound, message_id)
        try:
            decision = future.result(timeout=budget)
        except FutureTimeout:
            metrics.PASSIVE_TIMEOUTS.inc()
            log.warning("no reply within the budget, the worker answers", extra={"message_id": message_id})
            return None
        except Exception:
            log.exception("a bot failed in the webhook, the worker retries", extra={"message_id": message_id})
            return None
        if not isinstance(decision, Reply):
            return None
        with session_scope(self.state.engine) as session:
            if not claim_reply(session, message_id, REPLY_PASSIVE):
                return None
            inbound_row = session.get(Message, message_id)
            record_outbound(
                session, inbound_row, decision.text, source=decision.source, via="passive",
                dedupe_key=f"reply:{message_id}", meta=reply_meta(decision),
            )
            kb_effects.apply(session, inbound_row, decision)
        return OutboundMessage(account=inbound.account, recipient=inbound.sender, text=decision.text)

    def _stored_reply(self, message_id: int | None, inbound: InboundMessage) -> OutboundMessage | None:
        """A retried delivery gets the passive reply the first delivery got, if it had one."""
        if message_id is None:
            return None
        with Session(self.state.engine) as session:
            text = session.exec(
                select(Message.text).where(Message.reply_to_id == message_id, Message.via == "passive")
            ).first()
        return OutboundMessage(account=inbound.account, recipient=inbound.sender, text=text) if text else None
