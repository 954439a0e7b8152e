"""`hub demo`: the whole hub on one machine on embedded defaults (`run`), with its demo data (`data`,
`kb.jsonl`)."""

from hub.demo.data import DEMO_AGENTS, DEMO_PASSWORD, DEMO_TEAMS, DEMO_USERS, seed_agents, seed_demo
from hub.demo.run import run_demo

__all__ = ["DEMO_AGENTS", "DEMO_PASSWORD", "DEMO_TEAMS", "DEMO_USERS", "run_demo", "seed_agents", "seed_demo"]
