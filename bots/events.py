"""What WeChat's console did for events: the welcome message on subscribe and replies to menu clicks."""

from __future__ import annotations

from bots.base import BotContext, Decision, Reply
from channels.base import InboundMessage


def welcome_bot(message: InboundMessage, context: BotContext) -> Decision:
    """Greet a new follower; a referral scene (qrscene_ of the QR code they scanned) may have its own text."""
    if message.event != "subscribe":
        return None
    scene = str(message.extra.get("scene") or "")
    text = context.rules.welcome_by_scene.get(scene) if scene else None
    text = text or context.rules.welcome
    if not text:
        return None
    return Reply(text, "welcome", {"scene": scene} if scene else {})


def menu_bot(message: InboundMessage, context: BotContext) -> Decision:
    if message.event != "click" or not message.event_key:
        return None
    text = context.rules.menu.get(message.event_key)
    return Reply(text, "menu", {"key": message.event_key}) if text else None


def default_bot(message: InboundMessage, context: BotContext) -> Decision:
    """The last resort for a fan's message nobody else answered (events get no default reply)."""
    if message.is_event or not context.rules.default:
        return None
    return Reply(context.rules.default, "default")
