"""The interest and intent classifiers as the hub runs them: trained by an RQ job (progress in the job's meta),
stored as versioned blobs, and loaded by every process in the background (hub.core.blob_holder).

A new model replaces the active one only if it is no worse on the held-back examples: a deterministic
slice (by a hash of the text) that no model trains on, so old and new are always compared on the same
texts. Exceptions: there is no model yet, the new one covers tags the old one cannot predict (the
taxonomy grew), nothing is held back yet, or the operator forces it.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Callable
from typing import Any

import redis
from rq import get_current_job
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlmodel import Session, select

from hub.core.blob_holder import BlobHolder, active_blob, holder, publish
from hub.core.models import ModelBlob
from hub.core.queue import enqueue, job_id_for
from hub.core.state import HubState, get_state
from hub.tags.models import Example
from hub.tags.taxonomy import NO_INTEREST, active_tags
from knowledge.classifier import Example as Labelled
from knowledge.classifier import Model, TrainingError, evaluate, is_no_worse, train
from knowledge.classify_text import is_empty, normalise
from knowledge.intents import INTENTS, builtin_examples

log = logging.getLogger("hub.tags.classifiers")
KINDS = ("interest", "intent")
HOLD_BACK_ONE_IN = 5
TRAIN_TIMEOUT_S = 1800
Progress = Callable[[float, str], None]


def held_back(text: str) -> bool:
    """Whether a text belongs to the held-back slice (the same answer in every run and process)."""
    digest = hashlib.sha1(normalise(text).encode("utf-8"), usedforsecurity=False).digest()
    return digest[0] % HOLD_BACK_ONE_IN == 0


def training_data(session: Session, kind: str) -> tuple[list[Labelled], set[str], dict[str, list[str]]]:
    """(examples, labels allowed, seed keywords) for one kind of model."""
    rows = session.exec(select(Example.text, Example.label).where(Example.kind == kind).order_by(Example.id)).all()
    if kind == "intent":
        by_text = {ex.text.strip(): ex for ex in builtin_examples()}
        for text, label in rows:
            by_text[text.strip()] = Labelled(text, (label,))  # the operator's example wins
        labels = set(INTENTS) | {lab for ex in by_text.values() for lab in ex.labels}
        return list(by_text.values()), labels, {}
    tags = active_tags(session, ("interest",))
    labels = {t.name for t in tags}
    keywords = {t.name: list(t.seed_keywords) for t in tags if t.seed_keywords}
    grouped: dict[str, set[str]] = {}
    for text, label in rows:
        grouped.setdefault(text, set()).add(label)
    examples = []
    for text, given in grouped.items():
        known = {lab for lab in given if lab in labels}
        if known or given == {NO_INTEREST}:  # texts only about deleted tags are left out
            examples.append(Labelled(text, tuple(sorted(known))))
    return examples, labels, keywords


def _reporter(progress: Progress | None) -> Progress:
    job = get_current_job()
    last = [-1.0]

    def report(fraction: float, message: str) -> None:
        if progress is not None:
            progress(fraction, message)
        if job is not None and (fraction - last[0] >= 0.02 or fraction >= 1.0):
            last[0] = fraction
            job.meta["progress"] = {"fraction": round(min(max(fraction, 0.0), 1.0), 3), "message": message}
            with contextlib.suppress(redis.RedisError):
                job.save_meta()

    return report


def _decide(state: HubState, kind: str, model: Model, held: list[Labelled], labels: set[str],
            after: dict[str, Any] | None, metrics: dict[str, Any], force: bool) -> tuple[bool, str]:
    old_blob = active_blob(state, kind)
    if old_blob is None:
        return True, "no model yet"
    if force:
        return True, "forced by the operator"
    old = Model.from_bytes(old_blob.data)
    new_labels = (set(model.labels) & labels) - set(old.labels)
    if new_labels:
        return True, f"the active model cannot predict {', '.join(sorted(new_labels))}"
    if not held or after is None:
        return True, "no held-back examples to compare on yet"
    before = evaluate(old, held, allowed=labels)
    metrics["previous"] = {"version": old.version, "accuracy": round(before["accuracy"], 4),
                           "macro_f1": round(before["macro_f1"], 4)}
    if is_no_worse(after, before):
        return True, "no worse than the active model on the held-back examples"
    return False, (f"worse than the active model {old.version} on {len(held)} held-back examples "
                   f"(macro-F1 {after['macro_f1']:.3f} vs {before['macro_f1']:.3f}, "
                   f"accuracy {after['accuracy']:.3f} vs {before['accuracy']:.3f})")


def train_tag_model(kind: str, force: bool = False, progress: Progress | None = None) -> dict[str, Any]:
    """RQ job (also run by `hub tags train`): train, evaluate on the held-back slice, publish if no worse."""
    if kind not in KINDS:
        raise ValueError(f"a model's kind is interest or intent, not {kind!r}")
    state = get_state()
    report = _reporter(progress)
    report(0.0, "collecting examples")
    with Session(state.engine) as session:
        examples, labels, keywords = training_data(session, kind)
    held = [ex for ex in examples if held_back(ex.text) and not is_empty(ex.text)]
    training = [ex for ex in examples if not held_back(ex.text)]
    try:
        model = train(training, labels, progress=lambda f, m: report(0.02 + 0.83 * f, m),
                      seed_keywords=keywords, unknown="drop")
    except TrainingError as exc:
        job = get_current_job()
        if job is not None:
            job.meta["error"] = str(exc)
            with contextlib.suppress(redis.RedisError):
                job.save_meta()
        raise
    report(0.88, f"evaluating on {len(held)} held-back examples")
    metrics: dict[str, Any] = {
        "kind": kind, "model": model.metadata.get("kind"), "labels": sorted(model.labels),
        "train_examples": len(training), "held_back": len(held), "train_s": model.metadata.get("train_s"),
    }
    after = None
    if held:
        after = evaluate(model, held, allowed=labels)
        metrics.update(accuracy=round(after["accuracy"], 4), macro_f1=round(after["macro_f1"], 4),
                       micro_f1=round(after["micro_f1"], 4))
    accepted, reason = _decide(state, kind, model, held, labels, after, metrics, force)
    metrics["accepted_because"] = reason if accepted else None
    if accepted:
        publish(state, kind, model.version, model.to_bytes(), metrics)
        loaded = _holder(state, kind)
        loaded.current, loaded.current_version = model, model.version  # this process has it already
    result = {"kind": kind, "version": model.version, "accepted": accepted, "reason": reason, "metrics": metrics}
    log.info("tag model trained", extra={"kind": kind, "version": model.version, "accepted": accepted,
                                         "reason": reason})
    job = get_current_job()
    if job is not None:
        job.meta["result"] = result
        with contextlib.suppress(redis.RedisError):
            job.save_meta()
    report(1.0, "accepted" if accepted else "rejected")
    return result


def request_training(state: HubState, kind: str, force: bool = False) -> str | None:
    """Enqueue the training job; its id (deterministic: one training per kind at a time), None without Redis."""
    args = (kind, True) if force else (kind,)
    if not enqueue(state.queue, train_tag_model, *args, timeout=TRAIN_TIMEOUT_S, replace_dead=True):
        return None
    return job_id_for(train_tag_model, *args)


def job_status(state: HubState, job_id: str) -> dict[str, Any] | None:
    """A training job's status, progress and result; None for an unknown id."""
    if not job_id.startswith(train_tag_model.__name__ + "-"):
        return None
    try:
        job = Job.fetch(job_id, connection=state.redis)
    except NoSuchJobError:
        return None
    meta = job.get_meta(refresh=True)
    status = job.get_status(refresh=False)
    return {"id": job_id, "status": str(getattr(status, "value", status)), "progress": meta.get("progress"),
            "result": meta.get("result"), "error": meta.get("error")}


def _loader(kind: str) -> Callable[[HubState, str], Model | None]:
    def load(state: HubState, version: str) -> Model | None:
        with Session(state.engine) as session:
            data = session.exec(select(ModelBlob.data).where(ModelBlob.kind == kind, ModelBlob.version == version)
                                .order_by(ModelBlob.id.desc())).first()  # type: ignore[union-attr]
        return Model.from_bytes(data) if data is not None else None

    return load


def _holder(state: HubState, kind: str) -> BlobHolder[Model]:
    return holder(state, kind, _loader(kind))


def model_for(state: HubState, kind: str, wait: bool = False) -> Model | None:
    """The active model of `kind` as this process has it loaded (None until one is)."""
    return _holder(state, kind).get(state, wait=wait)


def ensure_models(state: HubState) -> None:
    """For a worker at start: train what is missing (intent always; interest once tags exist), one process at a time."""
    from hub.core.blob_holder import active_version

    for kind in KINDS:
        if active_version(state, kind) is not None:
            continue
        lock = state.redis.lock(f"hub:tags:ensure:{kind}", timeout=TRAIN_TIMEOUT_S, blocking_timeout=TRAIN_TIMEOUT_S)
        try:
            acquired = lock.acquire()
        except redis.RedisError:
            acquired = False  # without Redis, train anyway: the database keeps the versions apart
        try:
            if active_version(state, kind) is None:
                try:
                    train_tag_model(kind)
                except TrainingError as exc:  # e.g. no interest tags defined yet
                    log.info("no model trained", extra={"kind": kind, "reason": str(exc)})
        finally:
            if acquired:
                with contextlib.suppress(redis.RedisError):
                    lock.release()


def preloaders(state: HubState) -> list[Callable[[], Any]]:
    from knowledge.classifier import preload

    return [preload, lambda: ensure_models(state), lambda: model_for(state, "interest", wait=True),
            lambda: model_for(state, "intent", wait=True)]
