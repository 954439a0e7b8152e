"""How long `hub tags retag` takes: N fans with M messages each (plus one fan with many), on a fresh SQLite file.

    .venv/bin/python bench/tag_retag.py --fans 100000 --messages 3 --big-fan 100000

Prints one JSON object: fans, messages, seconds, fans_per_s, messages_per_s, big_fan_s.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select

WORDS = {"美妆": ["口红", "粉底", "眼影", "面膜", "香水"], "数码": ["手机", "耳机", "平板", "充电器", "相机"],
         "汽车": ["保养", "轮胎", "油耗", "试驾", "车险"]}
CHAT = ["你好", "谢谢", "今天天气不错", "在吗", "哈哈好的", "晚安"]
TEMPLATES = ["这款{w}怎么样", "{w}有优惠吗", "想买{w}，有推荐吗", "{w}坏了怎么办", "{w}和{v}哪个好"]


def _text(rng: random.Random) -> str:
    if rng.random() < 0.3:
        return rng.choice(CHAT)
    words = WORDS[rng.choice(list(WORDS))]
    return rng.choice(TEMPLATES).format(w=rng.choice(words), v=rng.choice(words))


def _populate(state: object, fans: int, per_fan: int, big_fan: int) -> int:
    from hub.core.models import Account, Fan, Identity, Message

    rng = random.Random(7)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    engine = state.engine  # type: ignore[attr-defined]
    with engine.begin() as conn:
        conn.execute(insert(Account).values(key="bench", channel="wechat", name="", token="t", app_id="wx",
                                            app_secret="s", settings={}, created_at=start))
        account_id = conn.execute(select(Account.id)).scalar_one()
        for lo in range(0, fans + 1, 5000):
            n = min(5000, fans + 1 - lo)
            conn.execute(insert(Fan), [{"id": lo + i + 1, "display_name": "", "created_at": start,
                                        "last_seen_at": start} for i in range(n)])
            conn.execute(insert(Identity), [{"id": lo + i + 1, "fan_id": lo + i + 1, "account_id": account_id,
                                             "external_id": f"o{lo + i + 1}", "subscribed": True,
                                             "created_at": start} for i in range(n)])
        rows = [(f, k) for f in range(1, fans + 1) for k in range(per_fan)] + [(fans + 1, k) for k in range(big_fan)]
        mid = 0
        for lo in range(0, len(rows), 20000):
            batch = []
            for fan_id, k in rows[lo:lo + 20000]:
                mid += 1
                at = start + timedelta(minutes=k * 7 + fan_id % 60)
                batch.append({"id": mid, "account_id": account_id, "fan_id": fan_id, "identity_id": fan_id,
                              "direction": "in", "kind": "text", "text": _text(rng), "external_id": str(mid),
                              "sent_at": at, "received_at": at, "status": "processed", "reply_state": "none",
                              "source": "fan", "attempts": 0, "meta": {}, "raw": ""})
            conn.execute(insert(Message), batch)
    return len(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--fans", type=int, default=100_000)
    parser.add_argument("--messages", type=int, default=3, help="messages per fan")
    parser.add_argument("--big-fan", type=int, default=100_000, help="messages of one extra fan")
    args = parser.parse_args()

    from hub.app import create_state
    from hub.core.db import session_scope
    from hub.core.migrate import upgrade
    from hub.tags.classifiers import train_tag_model
    from hub.tags.retag import retag_all
    from hub.tags.taxonomy import add_example, create_tag

    tmp = Path(tempfile.mkdtemp(prefix="bench-retag-"))
    state = create_state({"instance_path": str(tmp), "database_url": f"sqlite:///{tmp / 'hub.db'}",
                          "log_format": "text", "log_level": "WARNING"})
    upgrade(state.engine)
    started = time.perf_counter()
    total = _populate(state, args.fans, args.messages, args.big_fan)
    populate_s = time.perf_counter() - started
    rng = random.Random(1)
    with session_scope(state.engine) as session:
        for name, words in WORDS.items():
            create_tag(session, name, "interest", keywords=words[:2])
        for name, words in WORDS.items():
            for w in words:
                for template in TEMPLATES[:4]:
                    add_example(session, "interest", template.format(w=w, v=rng.choice(words)), name)
        for text in CHAT:
            add_example(session, "interest", text, "none")
    print(json.dumps({"trained": train_tag_model("interest")["metrics"]}, ensure_ascii=False))
    result = retag_all(state)
    print(json.dumps({"fans": result["fans"], "messages": result["messages"], "seconds": result["seconds"],
                      "fans_per_s": round(result["fans"] / result["seconds"]),
                      "messages_per_s": round(result["messages"] / result["seconds"]),
                      "populate_s": round(populate_s, 1), "messages_stored": total}))


if __name__ == "__main__":
    main()
