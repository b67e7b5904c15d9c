"""Sentence scores and the aspect stack: a second aspect told in one sentence still counts."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import spacy

from nlp.classifier import SHIPPED_MODEL
from nlp.dataset import LabelledExample
from nlp.pipeline import VECTOR_HEADS
from nlp.train import train_model
from nlp.trained import SpacyClassifier
from nlp.vectors.heads import fit_stack, logit
from nlp.vectors.sentences import sentence_ids, sentence_max_logits
from nlp.vectors.tune import TIE, choose_stack, mean_figures

WHEN = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)
MIXED = ("Complaint about our inspection\n\nThe inspector was rude and shouted at my deputy. "
         "The report also gives the wrong number of pupils! Why? We have 240; it says 300.")


@pytest.fixture(scope="module")
def shipped() -> spacy.language.Language:
    return SpacyClassifier.load(SHIPPED_MODEL).nlp


def test_sentences_end_at_stops_and_line_breaks(shipped: spacy.language.Language) -> None:
    doc = shipped.make_doc(MIXED)
    ids = sentence_ids(doc)
    starts = [doc[i].text for i in range(len(doc)) if i == 0 or ids[i] != ids[i - 1]]
    assert starts == ["Complaint", "The", "The", "Why", "We", "it"]
    assert ids.tolist() == sorted(ids.tolist())


def test_a_sentence_scores_as_if_it_were_the_whole_message(
        shipped: spacy.language.Language) -> None:
    pipe = shipped.get_pipe("aspects")
    doc = shipped.make_doc(MIXED)
    ids = sentence_ids(doc)
    alone = [doc[int(np.flatnonzero(ids == k)[0]):int(np.flatnonzero(ids == k)[-1]) + 1]
             .as_doc() for k in range(int(ids.max()) + 1)]
    expected = logit(np.asarray(pipe.predict(alone))).max(axis=0)
    (got,) = sentence_max_logits(pipe.model, [doc])  # type: ignore[attr-defined]
    assert got == pytest.approx(expected, abs=1e-3)


def test_the_best_sentence_outscores_the_whole_message(shipped: spacy.language.Language) -> None:
    pipe = shipped.get_pipe("aspects")
    doc = shipped.make_doc(MIXED)
    (whole,) = logit(np.asarray(pipe.predict([doc])))
    (best,) = sentence_max_logits(pipe.model, [doc])  # type: ignore[attr-defined]
    labels = list(pipe.labels)  # type: ignore[attr-defined]
    assert best[labels.index("aspect:factual_accuracy")] > whole[
        labels.index("aspect:factual_accuracy")]


def test_a_message_without_tokens_gets_the_bias(shipped: spacy.language.Language) -> None:
    pipe = shipped.get_pipe("aspects")
    docs = [shipped.make_doc(""), shipped.make_doc("Rude.")]
    scores = sentence_max_logits(pipe.model, docs)  # type: ignore[attr-defined]
    (linear,) = [n for n in pipe.model.walk() if n.name == "sparse_linear"]  # type: ignore[attr-defined]
    assert scores[0] == pytest.approx(linear.get_param("b"))
    assert np.isfinite(scores).all() and not np.allclose(scores[1], scores[0])


def test_the_stack_trusts_the_source_that_predicts_the_label() -> None:
    rng = np.random.default_rng(0)
    y = (rng.random((400, 2)) > 0.5).astype(np.float32)
    noise = rng.normal(size=(400, 2, 3)).astype(np.float32)
    features = noise.copy()
    features[:, :, 1] += 4 * (y - 0.5)  # the second source knows the answer
    stack = fit_stack(features, y, ("a", "b"))
    assert (stack.weights[:, 1] > 3 * np.abs(stack.weights[:, [0, 2]]).max(axis=1)).all()
    assert ((stack.predict(features) > 0.5) == (y > 0.5)).mean() > 0.9


CONDUCT = ["The inspector was rude to my staff.", "She shouted at our deputy head.",
           "The lead inspector was dismissive and sarcastic.",
           "He laughed at a pupil in the corridor.", "The inspector was aggressive in meetings.",
           "Our staff were left in tears by her manner."]
FACTUAL = ["The report gives the wrong number of pupils.", "The report has our name wrong.",
           "The dates in the report are incorrect.", "It says we have a nursery; we do not.",
           "The age range in the report is wrong.", "The report misstates our staffing."]


def aspect_examples() -> list[LabelledExample]:
    out = []
    for aspect, texts in (("conduct", CONDUCT), ("factual_accuracy", FACTUAL)):
        for n, text in enumerate(texts):
            out.append(LabelledExample(
                id=f"{aspect}-{n}", text=text, subject=None, channel="email", received_at=WHEN,
                intent="complaint", aspects=[aspect], inspectorates=["ofsted"],
                regime="ofsted", safeguarding=False))
    return out


def test_training_fits_an_aspect_stack_that_is_saved_with_the_model(tmp_path: Path) -> None:
    train_model(aspect_examples(), tmp_path / "model", epochs=3, stack=("aspects",))
    model = SpacyClassifier.load(tmp_path / "model")
    heads = model.nlp.get_pipe(VECTOR_HEADS)
    assert model.nlp.meta["intake"]["stacked"] == ["aspects"]
    assert set(heads.stacks) == {"aspects"}  # type: ignore[attr-defined]
    (labelled,) = model.classify_many([aspect_examples()[0].as_input()])
    assert labelled.rules["aspects"] == "textcat.aspects+sentences+vectors"
    text = "The inspector was rude to us. The report also gets our pupil numbers wrong."
    (stacked,) = model.nlp.pipe([text])
    restored = spacy.load(tmp_path / "model")
    plain = restored.get_pipe(VECTOR_HEADS)
    plain.stacks = {}  # type: ignore[attr-defined]
    (bow,) = restored.pipe([text])
    assert stacked.cats["aspect:conduct"] != bow.cats["aspect:conduct"]
    assert stacked.cats["intent:complaint"] == pytest.approx(bow.cats["intent:complaint"])
    plain.from_bytes(heads.to_bytes())  # type: ignore[attr-defined]
    (again,) = restored.pipe([text])
    assert again.cats == pytest.approx(stacked.cats)


def test_training_without_a_stack_keeps_the_blend(tmp_path: Path) -> None:
    train_model(aspect_examples(), tmp_path / "model", epochs=2, stack=())
    model = SpacyClassifier.load(tmp_path / "model")
    assert model.nlp.get_pipe(VECTOR_HEADS).stacks == {}  # type: ignore[attr-defined]
    assert model.nlp.meta["intake"]["stacked"] == []


def test_the_stack_is_kept_only_when_it_beats_the_best_blend_by_more_than_a_tie() -> None:
    blended = {(0.0, 0.45): 0.880, (0.0, 0.4): 0.886, (0.1, 0.45): 0.884}
    assert choose_stack(blended, {0.4: 0.886 + TIE, 0.45: 0.884}) is None
    assert choose_stack(blended, {0.4: 0.897, 0.45: 0.896, 0.5: 0.890}) == 0.45
    assert choose_stack(blended, {0.4: 0.899, 0.45: 0.890}) == 0.4


def test_figures_are_averaged_over_seeds_with_their_spread() -> None:
    figures = mean_figures([{"aspects macro F1": 0.88}, {"aspects macro F1": 0.90}])
    assert figures["aspects macro F1"] == pytest.approx(0.89)
    assert figures["aspects macro F1 spread"] == pytest.approx(0.02)
