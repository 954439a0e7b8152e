"""The webhook path: where the channels' webhooks are mounted (`mount`), the hub's side of every webhook
(`webhooks`: a passive reply within the budget, one durable write; `replay_memory`: the
plaintext-mode replay check's store in Redis), accepting a message (`accept`: dedupe by
the database's unique key, the fan and identity), the SQLite write machinery (`group_commit`, the intake
`journal` with its `records` and `loader`), handing stored ids to the workers (`inbox`, `dispatch`), and the
sweeper that enqueues whatever never reached the queue (`jobs`, run by `sweeper`).

A fan's message, from the webhook to the reply:
1. `mount` routes POST /webhooks/wechat/<key> to channels.wechat's WSGI app, which verifies, decrypts and
   parses it into an InboundMessage and calls `webhooks.WebhookHandler`.
2. The handler finds the account and the fan (`accept.fan_for`), asks hub.conversation for a passive reply
   (rules inline, the other bots under HUB_REPLY_BUDGET_MS), and stores message and reply in one write
   (`accept.store`: group commit, or an append to the intake journal on SQLite); a retry is answered with
   the reply stored the first time.
3. The id goes onto the inbox list (`inbox`); a worker's dispatcher turns it into a `process_message` job
   (`dispatch`), and hub.conversation takes over. If Redis is away, `jobs.sweep` enqueues it later.
Calls only go down: hub.intake uses hub.conversation, hub.kb, hub.outbound and hub.core, never hub.web.
"""

from hub.intake.accept import recover_journals
from hub.intake.dispatch import dispatch_batch, drain, start_dispatcher
from hub.intake.jobs import sweep
from hub.intake.mount import mount_webhooks
from hub.intake.replay_memory import RedisReplayMemory
from hub.intake.sweeper import start_sweeper
from hub.intake.webhooks import WebhookHandler

__all__ = [
    "RedisReplayMemory", "WebhookHandler", "dispatch_batch", "drain", "mount_webhooks", "recover_journals",
    "start_dispatcher", "start_sweeper", "sweep",
]
