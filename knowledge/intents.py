"""Fan intents for routing: the built-in examples (written for this project) and the default model.

intents.jsonl holds a few hundred short messages as fans write them to a brand's account, labelled
question, complaint, human (asks for a person), purchase (wants to buy) or chitchat. Operators'
own examples extend them: an operator example whose text repeats a built-in one replaces its label.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from importlib import resources

from knowledge.classifier import Example, Model, train
from knowledge.classify_io import parse_lines

INTENTS: tuple[str, ...] = ("question", "complaint", "human", "purchase", "chitchat")


def builtin_examples() -> list[Example]:
    with resources.files("knowledge").joinpath("intents.jsonl").open(encoding="utf-8") as f:
        return parse_lines(f, "intents.jsonl", allowed=INTENTS)


def train_intent_model(
    extra: Iterable[Example] = (),
    progress: Callable[[float, str], None] | None = None,
    n_jobs: int = 1,
) -> Model:
    """The default intent model from the built-in examples plus operators' `extra` examples.

    Intents are closed-world (chit-chat is an intent of its own), so every text gets one.
    Operators may add intents of their own: any label in `extra` becomes a label of the model.
    """
    by_text: dict[str, Example] = {ex.text.strip(): ex for ex in builtin_examples()}
    for ex in extra:
        by_text[ex.text.strip()] = ex  # the operator's correction wins
    labels = set(INTENTS) | {lab for ex in by_text.values() for lab in ex.labels}
    return train(by_text.values(), labels, progress=progress, n_jobs=n_jobs)
