"""Per-sentence scores of a bag-of-words text classifier, max-pooled over a document.

A complaint often gives each of its aspects one sentence ("The inspector arrived an hour
early. The report says we have 300 pupils; we have 240."). Over the whole document the
second aspect's words are outweighed by the first's; the best sentence for each label
keeps that evidence. The bag-of-words model (``spacy.TextCatBOW``) is a linear layer over
hashed n-grams, so a sentence's score is the same layer read over the n-grams inside that
sentence: one call per batch, no extra ``Doc`` per sentence.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from spacy.attrs import IS_SPACE, ORTH
from spacy.strings import hash_string
from spacy.tokens import Doc
from thinc.api import Model

# A sentence ends at one of these tokens, or at a whitespace token (a blank line or a
# line break spaCy keeps as a token: the subject line, a list, a signature).
_ENDS = np.array([hash_string(p) for p in (".", "!", "?", ";")], dtype=np.uint64)


def _bow_layers(model: Model) -> tuple[Model, int]:
    """The sparse linear layer of a ``TextCatBOW`` model and its n-gram size."""
    nodes = {node.name: node for node in model.walk()}
    return nodes["sparse_linear"], int(nodes["extract_ngrams"].attrs["ngram_size"])


def _ends(attrs: np.ndarray) -> np.ndarray:
    """Per token (rows of ORTH, IS_SPACE), whether it ends a sentence."""
    return np.isin(attrs[:, 0].astype(np.uint64), _ENDS) | (attrs[:, 1] > 0)


def sentence_ids(doc: Doc) -> np.ndarray:
    """Per token, the index of its sentence (the end token belongs to the sentence)."""
    ends = _ends(doc.to_array([ORTH, IS_SPACE]))
    return np.concatenate(([0], np.cumsum(ends)[:-1])).astype(np.int64)


def sentence_max_logits(model: Model, docs: Sequence[Doc]) -> np.ndarray:
    """Per document and label, the highest logit any of its sentences gets; a document
    with no token gets the bias alone. The batch is read as one token array, the end of
    each document also ending a sentence, so the cost is a few array passes per batch."""
    linear, ngram_size = _bow_layers(model)
    bias = np.asarray(linear.get_param("b"), dtype=np.float32)
    out = np.tile(bias, (len(docs), 1))
    used = [i for i, doc in enumerate(docs) if len(doc)]
    if not used:
        return out
    lengths = np.array([len(docs[i]) for i in used])
    attrs = np.concatenate([docs[i].to_array([ORTH, IS_SPACE]) for i in used])
    unigrams = np.ascontiguousarray(attrs[:, 0], dtype=np.uint64)
    ends = _ends(attrs)
    ends[np.cumsum(lengths) - 1] = True
    sid = np.concatenate(([0], np.cumsum(ends)[:-1]))
    keys, owners = [unigrams], [sid]
    for n in range(2, ngram_size + 1):
        if len(unigrams) < n:
            break
        grams = linear.ops.ngrams(n, unigrams)  # type: ignore[attr-defined]
        inside = sid[: len(grams)] == sid[n - 1 :]
        keys.append(grams[inside])
        owners.append(sid[: len(grams)][inside])
    sentences = np.concatenate(owners)
    order = np.argsort(sentences, kind="stable")
    per_sentence = np.bincount(sentences, minlength=int(sid[-1]) + 1)
    all_keys = np.ascontiguousarray(np.concatenate(keys)[order])
    values = np.ones(len(all_keys), dtype=np.float32)
    logits = np.asarray(linear.predict((all_keys, values, per_sentence.astype(np.int32))),
                        dtype=np.float32)
    # Sentences are in document order: each document's first sentence starts a block.
    first = np.concatenate(([0], np.cumsum(lengths)[:-1]))
    out[used] = np.maximum.reduceat(logits, sid[first], axis=0)
    return out
