"""Train the text classifiers from the labelled examples, reproducibly.

``intake-bot nlp train`` calls :func:`train_model`. A fixed seed, a fixed example order
and a fixed number of epochs give the same model from the same data on any machine. Each
classifier is updated on its own targets (spaCy's exclusive textcat checks every category
on an example, so the five label sets cannot share one ``doc.cats``). The word-vector
heads and the aspect stack (``nlp.vectors.heads``) are fitted after the classifiers; the
stack on out-of-fold scores from classifiers trained on the rest of the data.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import spacy
from spacy.language import Language
from spacy.training import Example
from spacy.util import compounding, fix_random_seed, minibatch

from nlp.dataset import LabelledExample, targets, training_text
from nlp.labels import ASPECT_INTENTS
from nlp.pipeline import TEXTCATS, VECTOR_HEADS, build_pipeline, initialize
from nlp.vectors.heads import VectorHeads, doc_matrix, fit_head, fit_stack, stack_features
from nlp.vectors.static import load_vectors

log = logging.getLogger(__name__)

SEED = 0
EPOCHS = 20
DROPOUT = 0.2
# Safeguarding: a miss is far worse than a false alarm, so the model's threshold is low,
# and lowered further until every positive in the training data would be caught.
SAFEGUARDING_MAX_THRESHOLD = 0.2
MODEL_NAME = "intake_classifier"
# Share of a label set's score taken from the word-vector head (``nlp.vectors.heads``),
# chosen on the dev split by ``python -m nlp.vectors.tune``; label sets not named keep
# the bag-of-words scores alone.
BLEND = {"intent": 0.25}
# Label sets scored by a stack of the whole message's bag-of-words score, its best
# sentence's and the vector head's (``nlp.vectors.heads.Stack``), instead of the blend;
# chosen on the dev split by ``python -m nlp.vectors.tune``.
STACK: tuple[str, ...] = ("aspects",)
# The stack learns from scores on text the models did not train on: this many folds.
STACK_FOLDS = 5
# An aspect counts at this score or more (chosen with BLEND and STACK, on the dev split).
ASPECT_THRESHOLD = 0.5


@dataclass(frozen=True)
class TrainResult:
    path: Path
    version: str
    examples: int
    corrections: int
    losses: dict[str, float]
    thresholds: dict[str, float]


def data_digest(examples: list[LabelledExample]) -> str:
    """A short hash of the training data: the model version says what it was trained on."""
    digest = hashlib.sha256()
    for ex in examples:
        digest.update(json.dumps([ex.id, ex.subject, ex.text, ex.intent, ex.aspects,
                                  ex.inspectorates, ex.regime, ex.safeguarding]).encode())
    return digest.hexdigest()[:10]


def _examples(nlp: Language, data: list[LabelledExample]) -> dict[str, list[Example]]:
    """Per classifier, one Example per usable training example, in data order."""
    out: dict[str, list[Example]] = {name: [] for name in TEXTCATS}
    for ex in data:
        doc = nlp.make_doc(training_text(ex.subject, ex.text))
        for name, cats in targets(ex).items():
            if name == "aspects" and ex.intent not in ASPECT_INTENTS:
                continue  # aspects exist only for these intents (RULES.md 1)
            out[name].append(Example.from_dict(doc, {"cats": cats}))
    return out


def _fit(nlp: Language, per_pipe: dict[str, list[Example]], epochs: int,
         seed: int) -> dict[str, float]:
    optimizer = initialize(nlp, lambda: per_pipe["intent"])
    rng = random.Random(seed)
    losses: dict[str, float] = {}
    for epoch in range(epochs):
        losses = {}
        for name, examples in per_pipe.items():
            order = list(examples)
            rng.shuffle(order)
            pipe = nlp.get_pipe(name)
            for batch in minibatch(order, size=compounding(4.0, 32.0, 1.001)):
                pipe.update(batch, drop=DROPOUT, sgd=optimizer, losses=losses)  # type: ignore[attr-defined]
        log.info("epoch %d losses %s", epoch + 1,
                 {k: round(v, 4) for k, v in sorted(losses.items())})
    return losses


def fit_vector_heads(nlp: Language, data: list[LabelledExample],
                     blend: dict[str, float]) -> None:
    """Fit a head per blended label set on the document vectors, on the same examples as
    the bag-of-words classifier it is blended with."""
    component: VectorHeads = nlp.get_pipe(VECTOR_HEADS)  # type: ignore[assignment]
    vectors = load_vectors()
    x = doc_matrix(vectors, (nlp.make_doc(training_text(e.subject, e.text)) for e in data))
    component.heads, component.blend, component.digest = {}, {}, vectors.digest
    for name, weight in blend.items():
        factory, labels = TEXTCATS[name]
        rows = [i for i, e in enumerate(data)
                if name != "aspects" or e.intent in ASPECT_INTENTS]
        if not rows:
            continue
        y = np.array([[targets(data[i])[name][label] for label in labels] for i in rows],
                     dtype=np.float32)
        component.heads[name] = fit_head(x[rows], y, labels, factory == "textcat")
        component.blend[name] = weight


def _rows(name: str, data: list[LabelledExample]) -> list[LabelledExample]:
    """The examples a label set's classifier trains on (aspects only where RULES.md 1
    gives them)."""
    return [e for e in data if name != "aspects" or e.intent in ASPECT_INTENTS]


def _labels(name: str, data: list[LabelledExample]) -> np.ndarray:
    _, labels = TEXTCATS[name]
    return np.array([[targets(e)[name][label] for label in labels] for e in data],
                    dtype=np.float32)


def _single_textcat(nlp: Language, name: str, data: list[LabelledExample], epochs: int,
                    seed: int) -> Language:
    """A pipeline with only the ``name`` classifier, built and trained as in ``nlp``."""
    factory, labels = TEXTCATS[name]
    single = spacy.blank("en")
    pipe = single.add_pipe(factory, name=name,
                           config={"model": dict(nlp.config["components"][name]["model"])})
    for label in labels:
        pipe.add_label(label)
    single.config["initialize"]["components"][name] = {"labels": list(labels)}
    examples = [Example.from_dict(single.make_doc(training_text(e.subject, e.text)),
                                  {"cats": targets(e)[name]}) for e in data]
    optimizer = single.initialize(lambda: examples)
    rng = random.Random(seed)
    for _ in range(epochs):
        order = list(examples)
        rng.shuffle(order)
        for batch in minibatch(order, size=compounding(4.0, 32.0, 1.001)):
            pipe.update(batch, drop=DROPOUT, sgd=optimizer, losses={})  # type: ignore[attr-defined]
    return single


def _out_of_fold(nlp: Language, name: str, data: list[LabelledExample], epochs: int,
                 seed: int) -> np.ndarray:
    """Stack features for every example, each from a classifier and head that did not
    train on it (``STACK_FOLDS`` folds, example ``i`` in fold ``i % STACK_FOLDS``)."""
    _, labels = TEXTCATS[name]
    vectors = load_vectors()
    x = doc_matrix(vectors, (nlp.make_doc(training_text(e.subject, e.text)) for e in data))
    y = _labels(name, data)
    fold = np.arange(len(data)) % STACK_FOLDS
    features = np.zeros((len(data), len(labels), 3), dtype=np.float32)
    for k in range(STACK_FOLDS):
        fit, held = np.flatnonzero(fold != k), np.flatnonzero(fold == k)
        single = _single_textcat(nlp, name, [data[i] for i in fit], epochs, seed)
        head = fit_head(x[fit], y[fit], labels, exclusive=False)
        docs = list(single.pipe(training_text(data[i].subject, data[i].text) for i in held))
        bow = np.array([[doc.cats[label] for label in labels] for doc in docs],
                       dtype=np.float32)
        features[held] = stack_features(bow, single.get_pipe(name), docs, head, x[held])
    return features


def fit_stacks(nlp: Language, data: list[LabelledExample], names: tuple[str, ...],
               epochs: int, seed: int) -> None:
    """A stack per named (multi-label) label set, on out-of-fold scores; its vector head is
    fitted too when the blend did not ask for one."""
    component: VectorHeads = nlp.get_pipe(VECTOR_HEADS)  # type: ignore[assignment]
    component.stacks = {}
    for name in names:
        rows = _rows(name, data)
        if len(rows) < STACK_FOLDS * 2:
            continue
        _, labels = TEXTCATS[name]
        if name not in component.heads:
            x = doc_matrix(load_vectors(),
                           (nlp.make_doc(training_text(e.subject, e.text)) for e in rows))
            component.heads[name] = fit_head(x, _labels(name, rows), labels, exclusive=False)
        features = _out_of_fold(nlp, name, rows, epochs, seed)
        component.stacks[name] = fit_stack(features, _labels(name, rows), labels)


def _safeguarding_threshold(nlp: Language, data: list[LabelledExample]) -> float:
    """Below every positive example's score, and never above the recall-first ceiling."""
    positives = [training_text(e.subject, e.text) for e in data if e.safeguarding]
    scores = [doc.cats["safeguarding"] for doc in nlp.pipe(positives)]
    lowest = min(scores, default=SAFEGUARDING_MAX_THRESHOLD)
    return round(min(SAFEGUARDING_MAX_THRESHOLD, lowest * 0.9), 4)


def train_model(data: list[LabelledExample], out: Path, *, epochs: int = EPOCHS,
                seed: int = SEED, corrections: int = 0,
                blend: dict[str, float] | None = None,
                stack: tuple[str, ...] | None = None) -> TrainResult:
    """Train on ``data`` and write the pipeline to ``out`` (replaced atomically)."""
    if not data:
        raise ValueError("no labelled examples to train on")
    fix_random_seed(seed)
    nlp = build_pipeline()
    losses = _fit(nlp, _examples(nlp, data), epochs, seed)
    fit_vector_heads(nlp, data, BLEND if blend is None else blend)
    fit_stacks(nlp, data, STACK if stack is None else stack, epochs, seed)
    thresholds = {"safeguarding": _safeguarding_threshold(nlp, data), "aspects": ASPECT_THRESHOLD,
                  "inspectorates": 0.5}
    version = f"spacy-bowvec-{data_digest(data)}"
    nlp.meta.update({"name": MODEL_NAME, "version": "1.0.0", "description": version,
                     "intake": {"model_version": version, "thresholds": thresholds,
                                "examples": len(data), "corrections": corrections,
                                "seed": seed, "epochs": epochs,
                                "vector_blend": nlp.get_pipe(VECTOR_HEADS).blend,
                                "stacked": sorted(nlp.get_pipe(VECTOR_HEADS).stacks)}})
    _write(nlp, out)
    return TrainResult(out, version, len(data), corrections, losses, thresholds)


def _write(nlp: Language, out: Path) -> None:
    """Write next to the target, then swap, so a failed write never leaves half a model."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".model-", dir=out.parent))
    try:
        nlp.to_disk(staging)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
