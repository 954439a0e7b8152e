"""Learning from agents: which question a hand-off is about, the candidates for it, and the fan's questions an
agent answered with a knowledge-base entry, proposed as more similar questions of that entry.

A hand-off often starts from a short follow-up ("没用", "转人工", "2") rather than from the question itself: the
question is then the fan's last real message before it (within QUESTION_WINDOW), so the ticket's candidates and
what the knowledge base learns come from "怎么退货", never from "没用"."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from hub.core.models import IN, Message, as_utc
from hub.kb.models import KbEntry, KbProposal, KbSimilarProposal

QUESTION_WINDOW = timedelta(minutes=30)
LOOK_BACK = 10  # earlier fan messages looked at for the question
QUESTION_CHARS = 500  # a proposed similar question is cut to this
INSERTED, MARKED = "inserted", "marked"
SOURCES = (INSERTED, MARKED)
# Follow-ups that carry no question of their own (compared on the letters and digits only, lower case).
_FOLLOW_UP = re.compile(
    r"^(没用|没有用|不对|不是|都不是|都不对|答非所问|没帮助|没有帮助|看不懂|不行|还是不行|不是这个|不是这个问题|"
    r"人工|转人工|人工客服|找人工|找人工客服|转人工客服|客服|找客服|转客服|真人|人呢|有人吗|在吗|在不在|"
    r"你好|您好|hi|hello|谢谢|好的|嗯|哦|ok|好|是的|对|\d{1,2})$"
)
ASKS_FOR_PERSON = {"human"}  # intents whose short messages are follow-ups too ("我要找你们人工客服")
_SHORT_FOR_PERSON = 10


def core(text: str) -> str:
    """Letters and digits only, NFKC-folded and lower case: what two questions must share to be the same."""
    return "".join(ch for ch in unicodedata.normalize("NFKC", text or "").lower() if ch.isalnum())


def question_key(text: str) -> str:
    return hashlib.sha1(core(text).encode(), usedforsecurity=False).hexdigest()


def is_follow_up(text: str, intent: str | None = None) -> bool:
    """Whether a message only reacts to what came before ("没用", "转人工", "？", "2") instead of asking."""
    letters = core(text)
    if not letters or _FOLLOW_UP.match(letters):
        return True
    return intent in ASKS_FOR_PERSON and len(letters) <= _SHORT_FOR_PERSON


def _intent(meta: Any) -> str | None:
    return meta.get("intent") if isinstance(meta, Mapping) else None


def handoff_question(session: Session | Connection, message_id: int) -> tuple[int, str] | None:
    """(id, text) of the fan's question a hand-off from `message_id` is about: that message, or — for a short
    follow-up — the fan's last real message before it on the same account within QUESTION_WINDOW; None when
    there is none (a fan whose first words are "转人工")."""
    row = session.execute(select(Message.id, Message.text, Message.meta, Message.fan_id, Message.account_id,
                                 Message.sent_at).where(Message.id == message_id)).first()
    if row is None:
        return None
    if not is_follow_up(row.text, _intent(row.meta)):
        return row.id, row.text.strip()
    since = as_utc(row.sent_at) - QUESTION_WINDOW
    earlier = session.execute(
        select(Message.id, Message.text, Message.meta, Message.sent_at)
        .where(Message.fan_id == row.fan_id, Message.account_id == row.account_id, Message.direction == IN,
               Message.kind == "text", Message.id < row.id)
        .order_by(Message.id.desc()).limit(LOOK_BACK)
    ).all()
    for prior in earlier:
        if as_utc(prior.sent_at) < since:
            break
        if not is_follow_up(prior.text, _intent(prior.meta)):
            return prior.id, prior.text.strip()
    return None


def ticket_question(session: Session, first_message_id: int | None, upto_id: int | None = None
                    ) -> tuple[int, str] | None:
    """The question a ticket is about: the hand-off's question; when the hand-off had none ("转人工" first),
    the fan's first real message after it (up to `upto_id`)."""
    if first_message_id is None:
        return None
    found = handoff_question(session, first_message_id)
    if found is not None:
        return found
    first = session.get(Message, first_message_id)
    if first is None:
        return None
    query = (select(Message.id, Message.text, Message.meta)
             .where(Message.fan_id == first.fan_id, Message.account_id == first.account_id, Message.direction == IN,
                    Message.kind == "text", Message.id > first.id)
             .order_by(Message.id).limit(LOOK_BACK))  # type: ignore[arg-type]
    if upto_id is not None:
        query = query.where(Message.id <= upto_id)
    for later in session.execute(query).all():
        if not is_follow_up(later.text, _intent(later.meta)):
            return later.id, later.text.strip()
    return None


def candidates_for(kb: Any, text: str, unhelpful: str | None = None, k: int = 3) -> list[dict[str, Any]]:
    """The entries `kb` (a KnowledgeBaseService) ranks for `text`, as a ticket carries them; the entry whose
    answer the fan found unhelpful is marked so."""
    out = []
    for hit in kb.search(text, k=k):
        entry = kb.entry(hit.entry_id) or {}
        item = {"entry_id": hit.entry_id, "question": entry.get("question", hit.matched),
                "confidence": round(float(hit.confidence), 3)}
        if unhelpful is not None and str(hit.entry_id) == str(unhelpful):
            item["unhelpful"] = True
        out.append(item)
    return out


def entry_by_external_id(session: Session, external_id: str) -> KbEntry | None:
    return session.exec(select(KbEntry).where(KbEntry.external_id == external_id)).first()


def known_question(entry: KbEntry, text: str) -> bool:
    """Whether `text` is the entry's standard question or one of its similar questions already."""
    key = core(text)
    return any(core(q) == key for q in (entry.question, *(entry.similar or [])))


def propose_similar(session: Session, entry: KbEntry, question: tuple[int | None, str], *, source: str,
                    agent_id: int | None, ticket_id: int | None = None, reply_id: int | None = None
                    ) -> KbSimilarProposal | None:
    """Propose the fan's question as a similar question of `entry`; the proposal (an earlier one for the same
    question and entry is returned as it is), or None when there is nothing to learn (an empty question, or one
    the entry has already)."""
    message_id, text = question
    text = text.strip()[:QUESTION_CHARS]
    if source not in SOURCES:
        raise ValueError(f"source is one of {', '.join(SOURCES)}")
    if not core(text) or known_question(entry, text):
        return None
    key = question_key(text)
    existing = _existing(session, entry.id, key)
    if existing is not None:
        return existing
    proposal = KbSimilarProposal(entry_id=entry.id, question=text, question_key=key, message_id=message_id,
                                 ticket_id=ticket_id, reply_id=reply_id, agent_id=agent_id, source=source)
    nested = session.begin_nested()
    try:
        session.add(proposal)
        session.flush()
        nested.commit()
    except IntegrityError:  # the same question and entry proposed a moment ago by another request
        nested.rollback()
        return _existing(session, entry.id, key)
    return proposal


def _existing(session: Session, entry_id: int | None, key: str) -> KbSimilarProposal | None:
    return session.exec(select(KbSimilarProposal).where(
        KbSimilarProposal.entry_id == entry_id, KbSimilarProposal.question_key == key)).first()


def learn_from_answer(session: Session, *, first_message_id: int | None, entry_external_id: str | None,
                      source: str, agent_id: int | None, ticket_id: int | None = None, reply_id: int | None = None,
                      reply_text: str | None = None) -> KbSimilarProposal | None:
    """What an agent's answer on a ticket teaches: with an entry, the ticket's question becomes a proposed similar
    question of it; without one, the agent's reply becomes the answer of the question's open new-entry proposal
    (if it has none yet). LookupError when the entry does not exist."""
    entry = None
    if entry_external_id is not None:
        entry = entry_by_external_id(session, entry_external_id)
        if entry is None:
            raise LookupError(f"no knowledge-base entry {entry_external_id!r}")
    question = ticket_question(session, first_message_id, reply_id)
    if question is None:
        return None
    if entry is not None:
        return propose_similar(session, entry, question, source=source, agent_id=agent_id, ticket_id=ticket_id,
                               reply_id=reply_id)
    if reply_text:
        open_proposal = session.exec(select(KbProposal).where(
            KbProposal.message_id == question[0], KbProposal.status == "open", KbProposal.answer == "")).first()
        if open_proposal is not None:
            open_proposal.answer = reply_text.strip()
            session.add(open_proposal)
    return None


def agent_choices(session: Session) -> list[tuple[str, str]]:
    """(fan's question, entry id) for every question an agent answered with an entry and no operator rejected:
    feedback for calibrating the retriever."""
    rows = session.execute(
        select(KbSimilarProposal.question, KbEntry.external_id)
        .join(KbEntry, KbEntry.id == KbSimilarProposal.entry_id)
        .where(KbSimilarProposal.status != "rejected").order_by(KbSimilarProposal.id)
    ).all()
    return [(question, external_id) for question, external_id in rows]

