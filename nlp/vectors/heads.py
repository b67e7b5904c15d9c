"""Classifier heads on document vectors, blended into the bag-of-words scores.

The bag-of-words classifiers know only the words of our training data. These heads read
a document vector built from static word vectors (``nlp.vectors.static``), so a message
that says what happened in other words still lands near the examples that meant the
same. Each head is a linear (softmax or sigmoid) model over the vector, trained with
numpy after the bag-of-words classifiers; ``vector_heads`` then replaces a label set's
scores by ``(1 - w) * bag_of_words + w * head``, with ``w`` chosen on the dev split.
A message with no word the table knows (empty, binary junk, another language) keeps the
bag-of-words scores.

A label set may instead be *stacked* (``Stack``): per label, a logistic regression over
three logits, the bag-of-words score of the whole message, the best score any one of
its sentences gets (``nlp.vectors.sentences``) and the head's score. It is fitted on
out-of-fold scores of the training data (``nlp.train.fit_stacks``), so it learns how far
each source is to be trusted from scores the models gave to text they had not seen.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import srsly
from spacy.language import Language
from spacy.tokens import Doc
from spacy.util import minibatch

from nlp.vectors.sentences import sentence_max_logits
from nlp.vectors.static import StaticVectors, load_vectors

L2 = 1e-4
STEPS = 600
LEARN_RATE = 0.05
# Logits are clipped to the range of probabilities 1e-4 .. 1 - 1e-4.
MAX_LOGIT = 9.21


def doc_matrix(vectors: StaticVectors, docs: Iterable[Doc]) -> np.ndarray:
    """Per document, the unit-length sum of its SIF-weighted word vectors (zeros when the
    table knows none of its words)."""
    sums = vectors.doc_sums(list(docs))
    norms = np.linalg.norm(sums, axis=1, keepdims=True)
    return sums / np.where(norms > 0, norms, 1.0)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def logit(p: np.ndarray) -> np.ndarray:
    """The inverse of the sigmoid, clipped to ``MAX_LOGIT``."""
    p = np.clip(np.asarray(p, dtype=np.float32), 1e-4, 1 - 1e-4)
    return np.log(p / (1 - p))


@dataclass
class Head:
    """One label set's linear model: ``scores = f(x @ weights + bias)``."""

    labels: tuple[str, ...]
    exclusive: bool
    weights: np.ndarray
    bias: np.ndarray

    def logits(self, x: np.ndarray) -> np.ndarray:
        return x @ self.weights + self.bias

    def predict(self, x: np.ndarray) -> np.ndarray:
        z = self.logits(x)
        return _softmax(z) if self.exclusive else _sigmoid(z)


@dataclass
class Stack:
    """Per label, a logistic regression over that label's logits from several sources:
    ``scores[:, j] = sigmoid(features[:, j, :] @ weights[j] + bias[j])``."""

    labels: tuple[str, ...]
    weights: np.ndarray  # (labels, sources)
    bias: np.ndarray  # (labels,)

    def predict(self, features: np.ndarray) -> np.ndarray:
        clipped = np.clip(features, -MAX_LOGIT, MAX_LOGIT)
        return _sigmoid((clipped * self.weights).sum(axis=-1) + self.bias)


def fit_stack(features: np.ndarray, y: np.ndarray, labels: tuple[str, ...]) -> Stack:
    """One logistic regression per label on ``features`` (examples, labels, sources)."""
    clipped = np.clip(features, -MAX_LOGIT, MAX_LOGIT).astype(np.float32)
    fits = [fit_head(clipped[:, j, :], y[:, j:j + 1], (label,), exclusive=False)
            for j, label in enumerate(labels)]
    return Stack(labels, np.stack([f.weights[:, 0] for f in fits]),
                 np.array([f.bias[0] for f in fits], dtype=np.float32))


def fit_head(x: np.ndarray, y: np.ndarray, labels: tuple[str, ...], exclusive: bool) -> Head:
    """Full-batch Adam on the L2-regularised log loss, from zeros: the same data gives the
    same head, with no random state to seed."""
    head = Head(labels, exclusive, np.zeros((x.shape[1], y.shape[1]), dtype=np.float32),
                np.zeros(y.shape[1], dtype=np.float32))
    params = [head.weights, head.bias]
    first = [np.zeros_like(p) for p in params]
    second = [np.zeros_like(p) for p in params]
    for step in range(1, STEPS + 1):
        grad_z = (head.predict(x) - y) / len(x)
        grads = [x.T @ grad_z + L2 * head.weights, grad_z.sum(axis=0)]
        for p, g, m, v in zip(params, grads, first, second, strict=True):
            m *= 0.9
            m += 0.1 * g
            v *= 0.999
            v += 0.001 * g * g
            p -= LEARN_RATE * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return head


def stack_features(bow: np.ndarray, textcat: object, docs: Sequence[Doc], head: Head,
                   x: np.ndarray) -> np.ndarray:
    """(documents, labels, 3): per label, the logits of the whole message's bag-of-words
    score ``bow``, of its best sentence under the same classifier, and of the head on the
    document vectors ``x``; labels in the head's order."""
    labels = list(textcat.labels)  # type: ignore[attr-defined]
    order = [labels.index(label) for label in head.labels]
    sentences = sentence_max_logits(textcat.model, docs)[:, order]  # type: ignore[attr-defined]
    return np.stack([logit(bow), sentences, head.logits(x)], axis=-1)


class VectorHeads:
    """The ``vector_heads`` pipeline component (after the text classifiers)."""

    def __init__(self, nlp: Language, name: str) -> None:
        self.name = name
        self.nlp = nlp
        self.heads: dict[str, Head] = {}
        self.blend: dict[str, float] = {}
        self.stacks: dict[str, Stack] = {}
        self.digest = ""

    @property
    def vectors(self) -> StaticVectors:
        return load_vectors()

    def __call__(self, doc: Doc) -> Doc:
        self._apply([doc])
        return doc

    def pipe(self, docs: Iterable[Doc], batch_size: int = 256) -> Iterator[Doc]:
        for batch in minibatch(docs, size=batch_size):
            self._apply(batch)
            yield from batch

    def _apply(self, docs: list[Doc]) -> None:
        active = {k: h for k, h in self.heads.items()
                  if self.blend.get(k, 0.0) > 0 and k not in self.stacks}
        if not (active or self.stacks) or not docs:
            return
        x = doc_matrix(self.vectors, docs)
        known = np.flatnonzero(np.abs(x).sum(axis=1) > 0)
        for key, stack in self.stacks.items():
            self._stacked(key, stack, [docs[i] for i in known.tolist()], x[known])
        for key, head in active.items():
            w = self.blend[key]
            scores = (w * head.predict(x[known])).tolist()
            for i, row in zip(known.tolist(), scores, strict=True):
                cats = docs[i].cats
                for label, s in zip(head.labels, row, strict=True):
                    cats[label] = (1 - w) * cats.get(label, 0.0) + s

    def _stacked(self, key: str, stack: Stack, docs: list[Doc], x: np.ndarray) -> None:
        """Replace a label set's scores by its stack's (documents with a known word)."""
        if not docs:
            return
        bow = np.array([[doc.cats.get(label, 0.0) for label in stack.labels] for doc in docs],
                       dtype=np.float32)
        features = stack_features(bow, self.nlp.get_pipe(key), docs, self.heads[key], x)
        for doc, row in zip(docs, stack.predict(features).tolist(), strict=True):
            doc.cats.update(zip(stack.labels, row, strict=True))

    def _cfg(self) -> dict[str, object]:
        return {"blend": self.blend, "vectors": self.digest,
                "heads": {k: {"labels": list(h.labels), "exclusive": h.exclusive}
                          for k, h in self.heads.items()},
                "stacks": {k: {"labels": list(s.labels)} for k, s in self.stacks.items()}}

    def _arrays(self) -> dict[str, np.ndarray]:
        arrays = {f"{k}.weights": h.weights for k, h in self.heads.items()}
        arrays.update({f"{k}.bias": h.bias for k, h in self.heads.items()})
        arrays.update({f"stack.{k}.weights": s.weights for k, s in self.stacks.items()})
        arrays.update({f"stack.{k}.bias": s.bias for k, s in self.stacks.items()})
        return arrays

    def _restore(self, cfg: dict, arrays: Mapping[str, np.ndarray]) -> VectorHeads:
        """Heads from their saved form; refused when the word vectors have changed."""
        if cfg["vectors"] != self.vectors.digest:
            raise ValueError("the word vectors changed since this model was trained: "
                             "run `intake-bot nlp train`")
        self.digest, self.blend = cfg["vectors"], dict(cfg["blend"])
        self.heads = {k: Head(tuple(c["labels"]), bool(c["exclusive"]),
                              arrays[f"{k}.weights"], arrays[f"{k}.bias"])
                      for k, c in cfg["heads"].items()}
        self.stacks = {k: Stack(tuple(c["labels"]), arrays[f"stack.{k}.weights"],
                                arrays[f"stack.{k}.bias"])
                       for k, c in cfg.get("stacks", {}).items()}
        return self

    def to_disk(self, path: Path, *, exclude: Iterable[str] = ()) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        np.savez(path / "heads.npz", **self._arrays())  # type: ignore[arg-type]
        (path / "cfg.json").write_text(json.dumps(self._cfg(), indent=1), encoding="utf-8")

    def from_disk(self, path: Path, *, exclude: Iterable[str] = ()) -> VectorHeads:
        path = Path(path)
        cfg = json.loads((path / "cfg.json").read_text(encoding="utf-8"))
        with np.load(path / "heads.npz") as arrays:
            return self._restore(cfg, arrays)

    def to_bytes(self, *, exclude: Iterable[str] = ()) -> bytes:
        buffer = io.BytesIO()
        np.savez(buffer, **self._arrays())  # type: ignore[arg-type]
        return srsly.msgpack_dumps({"cfg": self._cfg(), "arrays": buffer.getvalue()})

    def from_bytes(self, data: bytes, *, exclude: Iterable[str] = ()) -> VectorHeads:
        saved = srsly.msgpack_loads(data)
        with np.load(io.BytesIO(saved["arrays"])) as arrays:
            return self._restore(saved["cfg"], arrays)


@Language.factory("vector_heads")
def make_vector_heads(nlp: Language, name: str) -> VectorHeads:
    return VectorHeads(nlp, name)
