"""Precision, recall, F1 and confusion matrices, for single- and multi-label decisions.

Small and dependency-free on purpose: the numbers in docs/nlp-evaluation.md must be
reproducible by reading thirty lines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class LabelScore:
    label: str
    precision: float
    recall: float
    f1: float
    support: int  # gold occurrences


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    precision = tp / (tp + fp) if tp + fp else (1.0 if fn == 0 else 0.0)
    recall = tp / (tp + fn) if tp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return precision, recall, f1


def multilabel_scores(gold: Sequence[set[str]], pred: Sequence[set[str]],
                      labels: Sequence[str]) -> list[LabelScore]:
    """Per-label scores where each item carries a set of labels (a single label is a set of
    one). Labels that occur in neither gold nor predictions are left out."""
    out = []
    for label in labels:
        tp = sum(label in g and label in p for g, p in zip(gold, pred, strict=True))
        fp = sum(label not in g and label in p for g, p in zip(gold, pred, strict=True))
        fn = sum(label in g and label not in p for g, p in zip(gold, pred, strict=True))
        if tp + fp + fn == 0:
            continue
        out.append(LabelScore(label, *_prf(tp, fp, fn), support=tp + fn))
    return out


def macro_f1(scores: Sequence[LabelScore]) -> float:
    return sum(s.f1 for s in scores) / len(scores) if scores else 0.0


def accuracy(gold: Sequence[object], pred: Sequence[object]) -> float:
    if not gold:
        return 0.0
    return sum(g == p for g, p in zip(gold, pred, strict=True)) / len(gold)


def confusion(gold: Sequence[str], pred: Sequence[str]) -> Counter[tuple[str, str]]:
    """Counts of (gold, predicted) pairs."""
    return Counter(zip(gold, pred, strict=True))
