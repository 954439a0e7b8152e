"""Take the README's screenshots of the agent console: docs/screenshots/queue.png and conversation.png.

    .venv/bin/python docs/take_screenshots.py [--out docs/screenshots]

It runs `hub demo` on a fresh instance in a temporary directory (free ports, nothing of yours touched), plays a few
fans through the demo's WeChat emulation — questions the knowledge base answers, a hand-off, complaints (one from a
VIP), fans interested in 数码 — and agent1 through the console (a reply, a note), then photographs agent1's console
in Chinese at 1366×768 with Debian's chromium (apt-get install chromium fonts-wqy-microhei; Playwright comes with
the dev dependencies). It takes about a minute.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import requests

AGENT, OTHER, DIGITAL = "agent1@demo.local", "agent2@demo.local", "agent3@demo.local"
PASSWORD = "demo-password"  # noqa: S105 - the demo's (hub.demo.data.DEMO_PASSWORD)
APP_ID = "wxd0000000000demo"  # the demo account's (hub.demo.data.DEMO_APP_ID)
REPLY = "您好，我是客服小王，已联系快递核实，今天内给您答复。"
NOTE = "快递员说放在了驿站，已催派送；粉丝关注美妆，可推荐春季活动。"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while True:
        try:
            value = predicate()
        except requests.RequestException:
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            raise SystemExit(f"{what}: not within {seconds} s")
        time.sleep(0.3)


class Demo:
    """`hub demo` on a temporary instance, and what the script does to it."""

    def __init__(self, root: Path) -> None:
        self.port, self.sandbox_port = free_port(), free_port()
        self.url, self.sandbox = f"http://127.0.0.1:{self.port}", f"http://127.0.0.1:{self.sandbox_port}"
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("HUB_")},
                    "HUB_INSTANCE_PATH": str(root / "instance")}
        self.log = (root / "demo.log").open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "hub", "demo", "--port", str(self.port), "--sandbox-port",
             str(self.sandbox_port)], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for(lambda: requests.get(f"{self.url}/healthz", timeout=2).ok, 120, "the demo's web")
        self.tokens: dict[str, str] = {}

    def hub(self, *args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "hub", *args], env=self.env, capture_output=True, text=True,
                              check=False)
        if done.returncode:
            raise SystemExit(f"hub {' '.join(args)}: {done.stderr.strip()[-500:]}")
        return done.stdout

    def say(self, openid: str, text: str) -> None:
        response = requests.post(f"{self.sandbox}/sandbox/fans/{openid}/say", json={"appid": APP_ID, "text": text},
                                 timeout=30)
        response.raise_for_status()

    def api(self, method: str, path: str, email: str, body: Any = None) -> Any:
        if email not in self.tokens:
            self.tokens[email] = self.hub("tokens", "create", email).strip()
        response = requests.request(method, f"{self.url}/api/v1{path}", json=body, timeout=30,
                                    headers={"Authorization": f"Bearer {self.tokens[email]}"})
        if not response.ok:
            raise SystemExit(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()

    def fan_id(self, openid: str) -> int:
        """The fan's id, once the hub has stored their first message."""
        def found() -> int | None:
            done = subprocess.run([sys.executable, "-m", "hub", "fans", "show", openid, "--json"], env=self.env,
                                  capture_output=True, text=True, check=False)
            return json.loads(done.stdout)["fan_id"] if done.returncode == 0 else None

        return wait_for(found, 30, f"the fan {openid}")

    def ticket_of(self, openid: str, status: str | None = None) -> dict[str, Any]:
        """The fan's newest ticket, once it exists (and has `status`)."""
        fan = self.fan_id(openid)

        def found() -> dict[str, Any] | None:
            items = self.api("GET", f"/tickets?fan={fan}", "admin@demo.local")
            items = items.get("items", items) if isinstance(items, dict) else items
            return next((t for t in items if status is None or t["status"] == status), None)

        return wait_for(found, 60, f"a ticket of {openid}")

    def close(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


def play(demo: Demo) -> int:
    """Fans and agents do what fills the queue; the featured conversation's ticket id."""
    demo.hub("agents", "status", OTHER, "away")  # 售后's hand-offs go to agent1
    demo.hub("agents", "capacity", AGENT, "8")
    demo.say("o-lin", "口红快递到哪了")  # the knowledge base answers
    time.sleep(1)  # as a person reads the answer
    demo.say("o-lin", "买的口红和粉底液显示已签收，但我没收到")  # not sure: "您是想问…"
    demo.say("o-lin", "都不是")  # none of those: a hand-off (to agent1)
    featured = demo.ticket_of("o-lin", "assigned")["id"]
    wait_for(lambda: any(t["tag"] == "美妆" for t in json.loads(demo.hub("fans", "show", "o-lin", "--json"))["tags"]),
             30, "the fan's interest tag")  # two messages about 口红
    demo.hub("tags", "add", "VIP", "--kind", "manual", "--description", "重要客户")
    demo.say("o-vip", "你好")
    vip = demo.fan_id("o-vip")
    tag = next(t["id"] for t in json.loads(demo.hub("tags", "list", "--json")) if t["name"] == "VIP")
    demo.api("PUT", f"/fans/{vip}/tags/{tag}", "operator@demo.local", {"on": True})
    demo.say("o-vip", "订单三天了还没发货，客服也联系不上，太差了，我要投诉")  # a VIP's complaint: urgent
    demo.say("o-zhao", "买的耳机用了两天就没声音了，太失望了")  # a complaint: high
    demo.say("o-chen", "想问下这款手机拍照怎么样，夜景清楚吗")  # 数码: agent3
    demo.say("o-wu", "我的订单被快递弄丢了")  # not sure: "您是想问…"
    demo.say("o-sun", "公司报销需要发票，电子发票在哪里开")  # answered
    demo.say("o-he", "跑步鞋尺码偏大还是偏小，平时穿 42 的")  # answered
    for openid in ("o-chen", "o-wu", "o-sun", "o-he"):
        demo.say(openid, "转人工")  # each still wants a person
    for openid in ("o-vip", "o-zhao", "o-chen", "o-wu", "o-sun", "o-he"):
        demo.ticket_of(openid)
    lost = demo.ticket_of("o-wu")
    if lost["assignee"] != AGENT:
        demo.api("POST", f"/tickets/{lost['id']}/assign", "admin@demo.local", {"agent": AGENT})
    demo.api("POST", f"/tickets/{lost['id']}/replies", AGENT,
             {"text": "已帮您联系快递核实，请把订单号发给我。", "status": "waiting"})
    demo.hub("agents", "status", DIGITAL, "away")  # nobody of 数码 online: the next one waits
    demo.say("o-zhou", "平板充电很慢，屏幕也有点闪，手机和平板能一起保修吗")
    demo.say("o-zhou", "转人工")
    demo.ticket_of("o-zhou")
    return int(featured)


@contextlib.contextmanager
def signed_in(demo: Demo, email: str, height: int) -> Iterator[Any]:
    """A zh-CN page of Debian's chromium, 1366 px wide, signed in to the demo as `email`."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if not chromium:
        raise SystemExit("chromium is not installed (apt-get install chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1366, "height": height}, locale="zh-CN").new_page()
        page.goto(f"{demo.url}/login")
        page.fill("#email", email)
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_load_state()
        yield page
        browser.close()


def photograph(demo: Demo, featured: int, out: Path) -> None:
    from playwright.sync_api import expect

    with signed_in(demo, AGENT, 768) as page:
        page.wait_for_selector("#agent-page")

        page.goto(f"{demo.url}/tickets/{featured}")
        page.fill("#reply-text", REPLY)
        page.click('[data-send=""]')
        expect(page.locator("#thread-recent .msg.by-agent .delivery")).to_contain_text("已送达微信", timeout=20_000)
        page.click(".reply-tabs [data-mode=note]")
        page.fill("#reply-text", NOTE)
        page.click("[data-note-send]")
        expect(page.locator("#thread-recent .note-item")).to_have_count(1)
        demo.say("o-lin", "好的，麻烦尽快，谢谢！")  # shows up by itself
        expect(page.locator("#thread-recent .msg.by-fan .text").last).to_have_text("好的，麻烦尽快，谢谢！",
                                                                            timeout=20_000)
        page.click("#fan-tags details summary")  # the tag's evidence: the fan's messages
        page.click(".reply-tabs [data-mode=reply]")
        page.locator("#reply-text").blur()
        page.wait_for_timeout(3500)  # the "sent" line under the box fades after 3 s
        page.screenshot(path=str(out / "conversation.png"))

        page.goto(f"{demo.url}/queue?tab=all")
        expect(page.locator("#ticket-rows .trow")).to_have_count(8)
        page.screenshot(path=str(out / "queue.png"))


def photograph_dashboard(demo: Demo, out: Path) -> None:
    """docs/screenshots/dashboard.png: the operator's "messages and bots" dashboard over the last week, with the
    messages the script played (the figures come from the rollups, refreshed when the page loads)."""
    with signed_in(demo, "operator@demo.local", 900) as page:
        today = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600))  # the demo's Asia/Shanghai
        week_ago = time.strftime("%Y-%m-%d", time.gmtime(time.time() + 8 * 3600 - 6 * 86400))
        page.goto(f"{demo.url}/operator/dashboards/messages?start={week_ago}&end={today}")
        page.wait_for_selector("#dashboards[data-loaded]", timeout=30_000)
        page.wait_for_timeout(500)
        page.screenshot(path=str(out / "dashboard.png"))


def photograph_audiences(demo: Demo, out: Path) -> None:
    """docs/screenshots/audiences.png: the operator's audience builder with `(美妆 OR 数码) AND subscribed:yes` built
    from the chips and operator buttons, its live count and sample, saved as an audience (the list at the bottom)."""
    with signed_in(demo, "operator@demo.local", 900) as page:
        page.goto(f"{demo.url}/operator/audiences")
        for selector in ("button.op[data-insert='(']", "button.tag[data-insert='美妆']", "button.op[data-insert='OR']",
                         "button.tag[data-insert='数码']", "button.op[data-insert=')']", "button.op[data-insert='AND']",
                         "button.filter[data-insert='subscribed:yes']"):
            page.click(selector)
        page.wait_for_function("() => document.getElementById('count').dataset.count !== ''", timeout=30_000)
        page.fill("#name", "美妆或数码的关注者")
        page.click("#save-audience")
        page.wait_for_selector("#export-csv")
        page.wait_for_timeout(300)
        page.screenshot(path=str(out / "audiences.png"), full_page=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("screenshots"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="hub-screenshots-") as tmp:
        demo = Demo(Path(tmp))
        try:
            photograph(demo, play(demo), args.out)
            photograph_dashboard(demo, args.out)
            photograph_audiences(demo, args.out)
        finally:
            demo.close()
    print(f"written: {args.out / 'queue.png'}, {args.out / 'conversation.png'}")


if __name__ == "__main__":
    main()
