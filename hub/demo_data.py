"""Demo data: one Official Account on the local WeChat emulation, its auto-reply rules, console users, a small
knowledge base and interest tags with seed keywords (the worker trains the interest model from them)."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from sqlmodel import Session, select
from werkzeug.security import generate_password_hash

from hub.db import session_scope
from hub.kb import import_rows
from hub.kb_files import read_entries
from hub.models import Account, KbEntry, Rule, Tag, User
from hub.state import HubState
from hub.tags import create_tag

DEMO_KEY = "demo"
DEMO_KB = Path(__file__).with_name("demo_kb.jsonl")
DEMO_APP_ID = "wxd0000000000demo"
DEMO_USERS = (("admin@demo.local", "admin"), ("operator@demo.local", "operator"), ("agent@demo.local", "agent"))
DEMO_PASSWORD = "demo-password"  # noqa: S105 - printed for the demo; never used outside it

DEMO_RULES = (
    # kind, match, pattern, reply, priority
    ("welcome", "contains", "", "欢迎关注！回复“价格”看价目，回复“门店”找最近的店，有问题直接问我。", 0),
    ("welcome", "contains", "spring_promo", "欢迎！您是扫描春季活动二维码来的，回复“活动”领取优惠券。", 0),
    ("keyword", "exact", "价格", "旗舰款 2999 元，标准款 1999 元，学生购买可享 9 折。", 10),
    ("keyword", "contains", "门店", "全国门店查询：菜单“服务 → 门店”，或回复所在城市名。", 5),
    ("keyword", "regex", r"^(活动|优惠券?)$", "春季活动：满 1000 减 100，券码 SPRING100，4 月 30 日前有效。", 5),
    ("menu", "contains", "MENU_HOTLINE", "客服热线 400-000-0000（9:00–21:00），也可以直接在这里留言。", 0),
    ("default", "contains", "", "收到！客服稍后回复您。急事请拨 400-000-0000。", 0),
)


# Interest tags a brand's operators might start with: name, description, seed keywords (cold start).
DEMO_TAGS = (
    ("美妆", "化妆品、护肤", ("口红", "色号", "粉底", "面膜", "护肤", "香水", "眼影", "防晒")),
    ("数码", "手机、电脑和配件", ("手机", "耳机", "相机", "电脑", "平板", "充电", "拍照", "屏幕")),
    ("汽车", "用车、买车", ("汽车", "试驾", "保养", "轮胎", "油耗", "新能源", "车险", "驾照")),
    ("母婴", "孕期、宝宝用品", ("宝宝", "奶粉", "尿不湿", "孕妇", "婴儿", "辅食", "童装", "早教")),
    ("运动", "健身和户外", ("跑步", "健身", "瑜伽", "球鞋", "篮球", "骑行", "登山", "马拉松")),
)


def _aes_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()[:43]


def seed_demo(state: HubState, api_base: str) -> Account:
    """Create the demo account, rules and users once; later runs only point the account at `api_base`."""
    with session_scope(state.engine) as session:
        account = session.exec(select(Account).where(Account.key == DEMO_KEY)).first()
        if account is None:
            account = Account(
                key=DEMO_KEY, channel="wechat", name="Demo Official Account", token=secrets.token_hex(8),
                app_id=DEMO_APP_ID, app_secret=secrets.token_hex(16), aes_key=_aes_key(),
            )
            session.add(account)
            session.flush()
            for kind, match, pattern, reply, priority in DEMO_RULES:
                session.add(Rule(account_id=account.id, kind=kind, match=match, pattern=pattern, reply=reply,
                                 priority=priority))
        account.api_base = api_base
        session.add(account)
        _seed_users(session)
        if session.exec(select(KbEntry)).first() is None:
            import_rows(session, read_entries(DEMO_KB))
        if session.exec(select(Tag)).first() is None:
            for name, description, keywords in DEMO_TAGS:
                create_tag(session, name, "interest", description, keywords)
    return account


def _seed_users(session: Session) -> None:
    for email, role in DEMO_USERS:
        if session.exec(select(User).where(User.email == email)).first() is None:
            session.add(User(email=email, role=role, password_hash=generate_password_hash(DEMO_PASSWORD)))
