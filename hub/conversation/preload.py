"""Loading what deciding an answer needs before the first message needs it: jieba's dictionary, the
knowledge-base index and the classifiers."""

from __future__ import annotations

import logging
import threading

from hub.core.state import HubState
from hub.kb import kb_encoder, kb_service
from hub.tags import classifier_preloaders, model_for
from knowledge.classifier import preload as classifier_preload
from knowledge.tokenizer import preload as tokenizer_preload

log = logging.getLogger("hub.conversation")


def preload_for_worker(state: HubState) -> None:
    """A worker loads everything once, before RQ forks work horses (jieba alone takes about a second), and
    trains the models that are missing."""
    tokenizer_preload()
    kb_encoder(state)  # loaded, never run, before RQ forks (a forked child of a process that ran it may hang)
    kb_service(state, wait=True)
    for load in classifier_preloaders(state):
        load()


def warm_up(state: HubState) -> None:
    """A web process loads the index and the classifiers (and, if any exist, jieba) in the background, so
    its first fan does not wait for them (requests meanwhile are answered without them)."""

    def run() -> None:
        try:
            kb_encoder(state)
            loaded = [kb_service(state, wait=True), model_for(state, "intent", wait=True),
                      model_for(state, "interest", wait=True)]
            if any(item is not None for item in loaded):  # jieba only matters if something will tokenize
                tokenizer_preload()
                classifier_preload()
        except Exception:
            log.exception("warm-up failed; everything loads on first use instead")

    threading.Thread(target=run, name="warm-up", daemon=True).start()
