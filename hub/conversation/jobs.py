"""The conversation's RQ job: what happens to one inbound message (tag it, decide, answer or hand off).

Jobs take ids, load fresh state and check it before acting (idempotent); each has a deterministic id
(see hub.core.queue), so a retried delivery or a sweep never runs it twice at once.
"""

from __future__ import annotations

import logging

from bots.base import Handoff, Reply
from hub.conversation.handoff import open_ticket
from hub.conversation.identity import settle_fan
from hub.conversation.pipeline import decide_for, inbound_from_row
from hub.conversation.unionid import enqueue_user_info, wants_user_info
from hub.core.claims import claim_message
from hub.core.db import session_scope
from hub.core.models import (
    IN,
    PROCESSED,
    PROCESSING,
    RECEIVED,
    REPLY_ASYNC,
    REPLY_NONE,
    REPLY_PENDING,
    Account,
    Message,
    utcnow,
)
from hub.core.queue import enqueue
from hub.core.state import get_state
from hub.kb import apply_kb_effects
from hub.outbound import claim_reply, enqueue_send, record_outbound, reply_meta
from hub.tags import tag_message
from hub.tickets import Effects, run_effects, take_fan_message
from hub.tickets.jobs import route_now

log = logging.getLogger("hub.conversation")
MAX_PROCESS_ATTEMPTS = 5  # runs of process_message before a message that keeps failing is marked failed


def process_message(message_id: int) -> str:
    """Tag, decide and answer one inbound message; hand it to a person when no bot can."""
    state = get_state()
    with session_scope(state.engine) as session:
        claimed = claim_message(session, message_id, IN, RECEIVED, PROCESSING, state.config.stale_processing_seconds,
                         attempts=Message.attempts + 1)
    if not claimed:
        return "skipped: already processed or in progress"
    to_send: list[int] = []
    fx = Effects()
    with session_scope(state.engine) as session:
        message = session.get(Message, message_id)
        account = session.get(Account, message.account_id)
        identity = settle_fan(session, message)  # on its identity's fan, should a merge or split have moved it
        ask_unionid = wants_user_info(account, identity, message)
        inbound = inbound_from_row(message, account, identity)
        tag_message(session, message, inbound)  # the fan's intent and interests: idempotent per message
        held = None
        if message.reply_state == REPLY_PENDING and not inbound.is_event:
            # A person handles this fan (or it answers a survey): the message joins the ticket, the bots stay quiet.
            held = take_fan_message(session, state.config, message, account.channel, fx)
            if held is not None:
                claim_reply(session, message.id, REPLY_NONE)
        if held is None and message.reply_state == REPLY_PENDING:
            decision = decide_for(state, account.id, account.key, inbound, message.fan_id, message.id)
            if isinstance(decision, Reply) and claim_reply(session, message.id, REPLY_ASYNC):
                to_send.append(record_outbound(session, message, message.id, decision.text, source=decision.source,
                                               via="api", meta=reply_meta(decision)))
                apply_kb_effects(session, message.id, message.text, decision)
            elif isinstance(decision, Handoff) and claim_reply(session, message.id, REPLY_NONE):
                apply_kb_effects(session, message.id, message.text, decision)
                to_send.extend(open_ticket(session, state.config, message, account.channel, decision, fx))
            else:
                claim_reply(session, message.id, REPLY_NONE)
        message.status = PROCESSED
        message.processed_at = utcnow()
        session.add(message)
    route_now(fx)  # a hand-off's ticket goes to an agent now, in this job
    run_effects(state, fx)
    for out_id in to_send:
        enqueue_send(out_id)
    if ask_unionid:  # after the answer: who the fan is across accounts can wait (hub.conversation.unionid)
        enqueue_user_info(state, identity.id)
    return "processed"


def enqueue_process(message_id: int, *, replace_dead: bool = False) -> bool:
    state = get_state()
    return enqueue(state.queue, process_message, message_id, replace_dead=replace_dead)
