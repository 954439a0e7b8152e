"""Everything the hub sends: recording an outbound message with exactly one answer per inbound one
(`record`), the channel instance an account sends through (`channels`, with access tokens shared in Redis:
`token_cache`), and delivering it as an RQ job with retries and back-off (`jobs`)."""

from hub.outbound.channels import channel_for
from hub.outbound.jobs import UNCONFIRMED, RetryLater, enqueue_send, record_sent, resume_sends, send_message
from hub.outbound.record import FanRefLike, claim_reply, record_outbound, reply_meta

__all__ = [
    "UNCONFIRMED", "FanRefLike", "RetryLater", "channel_for", "claim_reply", "enqueue_send", "record_outbound",
    "record_sent", "reply_meta", "resume_sends", "send_message",
]
