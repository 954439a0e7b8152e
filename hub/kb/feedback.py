"""The hub's own evidence for calibrating the FAQ bot: its recent knowledge-base answers and what the fan
wrote next. An answer followed by "没用", "不对", "人工"... within the feedback window did not help (a
negative for the calibration); one followed by anything else, or by nothing, is counted as helped."""

from __future__ import annotations

import re
import unicodedata

from sqlmodel import Session, select

from bots.faq import FEEDBACK_WINDOW
from bots.faq import SOURCE as FAQ
from hub.core.models import IN, OUT, Message
from knowledge.calibration import Feedback

RECENT_ANSWERS = 500
# The same replies the FAQ bot takes as "that did not help" (bots/faq.py).
_UNHELPFUL = re.compile(
    r"^(没用|没有用|不对|不是|答非所问|没帮助|没有帮助|看不懂|不行|还是不行|人工|转人工|人工客服|找人工)[!！。.?？]*$"
)


def calibration_feedback(session: Session) -> list[Feedback]:
    """Everything the hub knows about right and wrong answers: the bot's recent answers with the fans'
    reactions, and the entries agents chose for fans' questions (kept unless an operator rejected them)."""
    from hub.kb.learning import agent_choices

    return recent_feedback(session) + [Feedback(q, entry_id, ok=True) for q, entry_id in agent_choices(session)]


def recent_feedback(session: Session, limit: int = RECENT_ANSWERS) -> list[Feedback]:
    answers = session.exec(
        select(Message).where(Message.direction == OUT, Message.source == FAQ, Message.reply_to_id != None)  # noqa: E711
        .order_by(Message.id.desc()).limit(limit)  # type: ignore[union-attr]
    ).all()
    out: list[Feedback] = []
    for answer in answers:
        entry_id = (answer.meta or {}).get("entry_id")
        question = session.get(Message, answer.reply_to_id)
        if not entry_id or question is None or not question.text.strip():
            continue
        following = session.exec(
            select(Message).where(Message.fan_id == answer.fan_id, Message.direction == IN, Message.id > answer.id)
            .order_by(Message.id).limit(1)  # type: ignore[arg-type]
        ).first()
        useless = (following is not None and following.received_at - answer.sent_at <= FEEDBACK_WINDOW
                   and bool(_UNHELPFUL.match(unicodedata.normalize("NFKC", following.text.strip()))))
        out.append(Feedback(question.text, str(entry_id), ok=not useless))
    return out
