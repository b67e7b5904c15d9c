"""Static word vectors and the document vectors the classifier heads read.

The table (``minilm-static.npz``, made by ``nlp.vectors.distill``) maps lower-case words to
float16 vectors distilled from a sentence-embedding model, so that words our training data
never used still land near the words it did ("sneered" near "rude"). Lookup goes through
spaCy's 64-bit hashes of the lower-case form (``doc.to_array(LOWER)``), so no Python
object is made per token.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from spacy.attrs import LOWER
from spacy.strings import hash_string
from spacy.tokens import Doc

VECTORS_FILE = Path(__file__).resolve().parent / "minilm-static.npz"
# Smooth inverse frequency (Arora et al. 2017): weight a / (a + p), p the word's
# probability in general English; words the table has no frequency for count as rare.
SIF_A = 1e-3


@dataclass(frozen=True)
class StaticVectors:
    """Word vectors keyed by the hash of the lower-case word, with SIF weights."""

    keys: np.ndarray  # uint64, sorted
    vectors: np.ndarray  # float16, rows already multiplied by the word's weight
    digest: str

    @property
    def width(self) -> int:
        return int(self.vectors.shape[1])

    def doc_sums(self, docs: list[Doc]) -> np.ndarray:
        """Per document, the sum of its known words' weighted vectors (one lookup for the
        whole batch: the per-message cost is a few microseconds)."""
        sums = np.zeros((len(docs), self.width), dtype=np.float32)
        hashes = [doc.to_array(LOWER) for doc in docs if len(doc)]
        if not hashes:
            return sums
        flat = np.concatenate(hashes).astype(np.uint64)
        pos = np.minimum(np.searchsorted(self.keys, flat), len(self.keys) - 1)
        known = self.keys[pos] == flat
        owner = np.repeat([i for i, doc in enumerate(docs) if len(doc)],
                          [len(h) for h in hashes])[known]
        if not len(owner):
            return sums
        rows = self.vectors[pos[known]]
        starts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
        sums[owner[starts]] = np.add.reduceat(rows, starts, axis=0, dtype=np.float32)
        return sums

    def rows(self, doc: Doc) -> np.ndarray:
        """The weighted vector of every token the table knows, in token order."""
        if not len(doc):
            return np.zeros((0, self.width), dtype=np.float32)
        hashes = doc.to_array(LOWER).astype(np.uint64)
        pos = np.minimum(np.searchsorted(self.keys, hashes), len(self.keys) - 1)
        return self.vectors[pos[self.keys[pos] == hashes]].astype(np.float32)


def sif_weights(zipf: np.ndarray) -> np.ndarray:
    """a / (a + p) with p = 10 ** (zipf - 9), the word's share of running English."""
    share = np.where(zipf > 0, 10.0 ** (zipf.astype(np.float64) - 9.0), 0.0)
    return (SIF_A / (SIF_A + share)).astype(np.float32)


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


@cache
def load_vectors(path: Path = VECTORS_FILE) -> StaticVectors:
    """The table, read once per process (a few tens of milliseconds)."""
    with np.load(path) as data:
        words, vectors, zipf = data["words"], data["vectors"], data["zipf"]
    keys = np.fromiter((hash_string(str(w)) for w in words), dtype=np.uint64,
                       count=len(words))
    order = np.argsort(keys)
    # Kept as float16 (10 MB for 40,000 words); sums are taken in float32.
    weighted = vectors[order] * sif_weights(zipf[order]).astype(np.float16)[:, None]
    return StaticVectors(keys[order], weighted, file_digest(path))
