"""`hub demo`: the whole hub on one machine on embedded defaults (`run`), with its demo data (`data`,
`kb.jsonl`)."""

from hub.demo.data import DEMO_PASSWORD, DEMO_USERS, seed_demo
from hub.demo.run import run_demo

__all__ = ["DEMO_PASSWORD", "DEMO_USERS", "run_demo", "seed_demo"]
