"""Demo data: one Official Account on the local WeChat emulation, its auto-reply rules, console users, a small
knowledge base, interest tags with seed keywords (the worker trains the interest model from them), and two teams
of service agents who are online, so a hand-off is assigned to one of them at once."""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

from sqlmodel import Session, select
from werkzeug.security import generate_password_hash

from hub.conversation import Rule
from hub.core.db import session_scope
from hub.core.models import Account, User
from hub.core.state import HubState
from hub.kb import KbEntry, import_rows, read_entries
from hub.tags import Tag, create_tag
from hub.tickets import Effects, Team, run_effects
from hub.tickets.presence import set_status
from hub.tickets.teams import add_agent, create_team

DEMO_KEY = "demo"
DEMO_KB = Path(__file__).with_name("kb.jsonl")
DEMO_APP_ID = "wxd0000000000demo"
DEMO_USERS = (("admin@demo.local", "admin"), ("operator@demo.local", "operator"))
DEMO_PASSWORD = "demo-password"  # noqa: S105 - printed for the demo; never used outside it

# Teams and their skills: a ticket goes to the team whose skill is its intent (complaint, human — "转人工" — ...)
# or, failing that, one of the fan's interest tags; a ticket no team matches goes to any online agent.
DEMO_TEAMS = (("售后", ("complaint", "human")), ("数码", ("数码",)))
# Agents (console users with DEMO_PASSWORD): e-mail, teams, capacity. They are set online with `hub agents status`'s
# kind of status, which holds until changed (a console's heartbeat status would fade when the console closes).
DEMO_AGENTS = (
    ("agent1@demo.local", ("售后",), 4),
    ("agent2@demo.local", ("售后", "数码"), 5),
    ("agent3@demo.local", ("数码",), 3),
)

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


def seed_agents(state: HubState) -> None:
    """The teams and their online agents, once (an operator's later changes to them stay). Apart from
    `seed_demo`: tests that use the demo account bring agents of their own."""
    fx = Effects()
    with session_scope(state.engine) as session:
        if session.exec(select(Team)).first() is not None:
            return
        for name, skills in DEMO_TEAMS:
            create_team(session, name, skills)
        for email, teams, capacity in DEMO_AGENTS:
            user, _ = add_agent(session, email, teams, capacity=capacity, password=DEMO_PASSWORD)
            set_status(session, user.id, "online", fx, heartbeat=False)  # type: ignore[arg-type]
    run_effects(state, fx)


def _seed_users(session: Session) -> None:
    for email, role in DEMO_USERS:
        if session.exec(select(User).where(User.email == email)).first() is None:
            session.add(User(email=email, role=role, password_hash=generate_password_hash(DEMO_PASSWORD)))


# The walk-through `hub demo` prints, step by step; the README's "Try it" shows the same list (a test checks).
DEMO_STEPS: tuple[tuple[str, str], ...] = (
    ("hub simulate --subscribe --scene spring_promo", "welcome message for that QR code"),
    ("hub simulate --text 价格", "keyword rule, answered in the HTTP response"),
    ("hub simulate --click MENU_HOTLINE", "menu click"),
    ("hub simulate --text 买的东西想退怎么办", "answered from the knowledge base"),
    ("hub simulate --text 没用", "...that did not help: a ticket for an agent"),
    ("hub simulate --text 我的订单被快递弄丢了 --openid fan2", 'not sure: "您是想问…" with its best guesses'),
    ("hub simulate --text 都不是 --openid fan2", "none of them: a ticket for an agent"),
    ("hub simulate --text 我想买一支新口红，有什么推荐的色号", ""),
    ("hub simulate --text 这款粉底液适合干皮吗", ""),
    ("hub fans show o-demo-fan", "tagged 美妆 after two such messages, with the evidence"),
    ("hub stats --json && hub tickets list", ""),
    ("hub simulate --text 转人工 --openid fan3", "a hand-off: the worker assigns it to an online agent of 售后"),
    ("hub tickets list --status assigned --json", "each ticket with its agent's e-mail (assignee)"),
)

