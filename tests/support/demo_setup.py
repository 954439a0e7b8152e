"""Test helper: the demo account (rules, knowledge base, interest tags) on the hub with the real models
trained and loaded, wired to the local WeChat API emulation."""

from __future__ import annotations

from typing import Any

from hub.core.models import Account
from hub.demo.data import seed_demo
from tests.support.wechat_setup import WiredAccount


def prepare_demo(state: Any, api_base: str) -> Account:
    """`hub demo`'s data with the knowledge-base index built and the intent and interest models trained."""
    from hub.kb.index import kb_service, rebuild_kb_index
    from hub.tags.classifiers import model_for, train_tag_model

    account = seed_demo(state, api_base)
    rebuild_kb_index()
    assert kb_service(state, wait=True) is not None
    for kind in ("intent", "interest"):
        assert train_tag_model(kind)["accepted"]
        assert model_for(state, kind, wait=True) is not None
    return account


def wire_demo(state: Any, hub_url: str, sandbox: Any) -> WiredAccount:
    """The demo account on the hub at `hub_url`, registered with the WeChat emulation `sandbox`."""
    account = prepare_demo(state, sandbox.url)
    sandbox.state.register_app(account.app_id, account.app_secret, token=account.token, aes_key=account.aes_key,
                               webhook_url=f"{hub_url}/webhooks/wechat/{account.key}")
    return WiredAccount(account.key, account.app_id, account.token, account.aes_key, sandbox.url, hub_url)
