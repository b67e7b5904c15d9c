"""The classification interface every channel's pipeline uses.

A classifier turns a message's text into a :class:`~intake.records.Classification`.
The shipped one is the trained spaCy pipeline in ``nlp/``; the keyword classifier in
``nlp.baseline`` is the fallback when no trained model is present, and the baseline that
evaluation compares against.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Protocol

from intake.records import Channel, Classification


@dataclass(frozen=True)
class ClassifyInput:
    text: str
    subject: str | None
    channel: Channel
    received_at: datetime  # aware


class Classifier(Protocol):
    version: str

    def classify(self, item: ClassifyInput) -> Classification: ...

    def classify_many(self, items: Iterable[ClassifyInput]) -> list[Classification]: ...


@lru_cache(maxsize=1)
def get_classifier() -> Classifier:
    """The production classifier: the shipped spaCy model, loaded once per process."""
    from nlp.classifier import load_classifier

    return load_classifier()
