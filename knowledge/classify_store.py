"""Model ↔ bytes without pickle: one .npz holding arrays plus a JSON document.

Safe to load from the database: numpy is told never to unpickle.
"""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import numpy as np

from knowledge.classify_features import FeatureSpace
from knowledge.classify_keywords import KeywordRules
from knowledge.classify_linear import Calibrated, LinearHead

if TYPE_CHECKING:
    from knowledge.classifier import Model

FORMAT = "fanhub-classifier/4"
# /3 (no plain SVM voter) loads as is; /2 (no naive Bayes voter) and /1 (string vocabularies): retrain.
READABLE = (FORMAT, "fanhub-classifier/3")


def dump_model(model: Model) -> bytes:
    doc: dict = {
        "format": FORMAT,
        "labels": list(model.labels),
        "head_labels": list(model.head_labels),
        "metadata": model.metadata,
        "keywords": model.rules.keywords if model.rules else None,
    }
    arrays: dict[str, np.ndarray] = {}
    if model.features is not None and model.head is not None:
        fmeta, farrays = model.features.state()
        doc["features"] = fmeta
        arrays.update({f"f_{k}": v for k, v in farrays.items()})
        h = model.head
        doc["head"] = {"C": h.C, "class_weight": h.class_weight, "blend": h.blend, "mix": h.mix}
        arrays.update(coef=h.coef, intercept=h.intercept, platt_a=h.platt_a, platt_b=h.platt_b)
        if h.nb_coef is not None:
            arrays["nb_coef"] = h.nb_coef
        if h.plain is not None:
            q = h.plain
            arrays.update(plain_coef=q.coef, plain_intercept=q.intercept, plain_platt_a=q.platt_a,
                          plain_platt_b=q.platt_b)
    arrays["doc"] = np.frombuffer(json.dumps(doc, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return buf.getvalue()


def load_model(blob: bytes, model_class: type[Model]) -> Model:
    """The model in `blob`, built as `model_class` (the caller's class: this module stays below it)."""
    try:
        z = np.load(io.BytesIO(blob), allow_pickle=False)
        doc = json.loads(bytes(z["doc"]).decode("utf-8"))
    except (ValueError, KeyError, OSError) as e:
        raise ValueError(f"not a classifier model: {e}") from e
    if doc.get("format") not in READABLE:
        raise ValueError(f"unsupported model format {doc.get('format')!r}, expected {FORMAT!r}: retrain the model")
    features = head = None
    if "features" in doc:
        farrays = {k[2:]: z[k] for k in z.files if k.startswith("f_")}
        features = FeatureSpace.from_state(doc["features"], farrays)
        plain = None
        if "plain_coef" in z.files:
            plain = Calibrated(z["plain_coef"], z["plain_intercept"], z["plain_platt_a"], z["plain_platt_b"])
        head = LinearHead(
            coef=z["coef"], intercept=z["intercept"], platt_a=z["platt_a"], platt_b=z["platt_b"],
            C=doc["head"]["C"], class_weight=doc["head"]["class_weight"],
            nb_coef=z["nb_coef"] if "nb_coef" in z.files else None, blend=float(doc["head"]["blend"]),
            plain=plain, mix=float(doc["head"].get("mix", 0.0)),
        )
    rules = KeywordRules(doc["keywords"]) if doc.get("keywords") else None
    return model_class(doc["labels"], features, head, doc["head_labels"], rules, doc["metadata"])
