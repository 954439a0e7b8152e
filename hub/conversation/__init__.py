"""What happens to a message once it is stored: the bots in their order (`pipeline`), the auto-reply rules
they read (`rules`, `models`), handing a fan to a person (`handoff`), and the `process_message` job (`jobs`).

A fan's message, from the webhook to the reply:
1. channels.wechat verifies, decrypts and parses it into an InboundMessage; hub.intake stores it and may
   answer it passively, asking this package's `decide_by_rules` / `decide_by_rest` under the time budget.
2. A worker runs `process_message`: hub.tags tags it (intent, interests, the fan's profile); if no passive
   reply went out, `decide_for` runs every bot; a Reply is recorded through hub.outbound and sent by its
   `send_message` job, a Handoff opens or joins a hub.tickets ticket (while a ticket holds the fan,
   their messages join it and the bots stay quiet); hub.kb counts hits and unhelpful answers.
One fan, one person (`identity`): merging fans, splitting an identity off, CRM ids, and the worker putting a
message on its identity's fan; `unionid` learns WeChat unionids (user/info) and merges fans that share one;
`fan_cache` tells every process's identity → fan caches when to start over.
Nothing here imports hub.intake or hub.web: calls only go down (tickets, kb, tags, then outbound, then core).
"""

from hub.conversation.identity import (
    FanConflict,
    FanNotFound,
    IdentityError,
    fan_summary,
    find_by_crm_id,
    merge_fans,
    resolve,
    set_crm_id,
    split_identity,
)
from hub.conversation.jobs import MAX_PROCESS_ATTEMPTS, enqueue_process, process_message
from hub.conversation.models import RULE_KINDS, Rule
from hub.conversation.pipeline import decide_by_rest, decide_by_rules, decide_for, person_holds, rest_may_reply
from hub.conversation.preload import preload_for_worker, warm_up
from hub.conversation.rules import RuleError, rulebook_for, rules_changed, validate

__all__ = [
    "MAX_PROCESS_ATTEMPTS", "RULE_KINDS", "Rule", "RuleError", "decide_by_rest", "decide_by_rules", "decide_for",
    "enqueue_process", "person_holds", "preload_for_worker", "process_message", "rest_may_reply", "rulebook_for",
    "rules_changed", "validate", "warm_up",
    "FanConflict", "FanNotFound", "IdentityError", "fan_summary", "find_by_crm_id", "merge_fans", "resolve",
    "set_crm_id", "split_identity",
]
