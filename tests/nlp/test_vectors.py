"""The static word vectors and the heads that read them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import spacy

from nlp.classifier import SHIPPED_MODEL
from nlp.pipeline import VECTOR_HEADS
from nlp.train import BLEND, STACK
from nlp.trained import SpacyClassifier
from nlp.vectors.heads import doc_matrix, fit_head
from nlp.vectors.static import VECTORS_FILE, load_vectors

CONDUCT = ["The inspector was rude and shouted at my staff.",
           "She was unprofessional and aggressive towards the headteacher.",
           "The lead inspector was dismissive and intimidating in every meeting."]
FACTUAL = ["The report gives the wrong number of pupils on roll.",
           "The report states incorrect dates for our last inspection.",
           "The report misnames our school and gets the age range wrong."]
# Conduct told in words none of the examples above uses.
PARAPHRASE = "He sneered at my colleagues and yelled at a teacher in the corridor."


@pytest.fixture(scope="module")
def tokenizer() -> spacy.language.Language:
    return spacy.blank("en")


def vectors_of(tokenizer: spacy.language.Language, texts: list[str]) -> np.ndarray:
    return doc_matrix(load_vectors(), [tokenizer.make_doc(t) for t in texts])


def test_the_vectors_load_and_are_small() -> None:
    table = load_vectors()
    assert VECTORS_FILE.stat().st_size < 15 * 1024 * 1024
    assert len(table.keys) > 30_000 and table.width == 128
    assert np.all(np.diff(table.keys.astype(np.float64)) >= 0)  # sorted for lookup
    assert np.isfinite(table.vectors).all()


def test_known_and_unknown_words(tokenizer: spacy.language.Language) -> None:
    table = load_vectors()
    assert len(table.rows(tokenizer.make_doc("Rude RUDE rude"))) == 3
    assert len(table.rows(tokenizer.make_doc("xqzvplk 12345 😀"))) == 0


def test_a_conduct_paraphrase_is_nearer_conduct_than_factual_errors(
        tokenizer: spacy.language.Language) -> None:
    conduct, factual = vectors_of(tokenizer, CONDUCT), vectors_of(tokenizer, FACTUAL)
    (paraphrase,) = vectors_of(tokenizer, [PARAPHRASE])
    assert float(paraphrase @ conduct.mean(axis=0)) > float(paraphrase @ factual.mean(axis=0))


def test_document_vectors_are_unit_length_or_zero(tokenizer: spacy.language.Language) -> None:
    x = vectors_of(tokenizer, ["The inspector was rude.", "", "\x00\x01\ufffd", "😀🙏"])
    norms = np.linalg.norm(x, axis=1)
    assert norms[0] == pytest.approx(1.0, abs=1e-5)
    assert norms[1:].tolist() == [0.0, 0.0, 0.0]


def test_a_head_learns_the_paraphrase(tokenizer: spacy.language.Language) -> None:
    x = vectors_of(tokenizer, CONDUCT + FACTUAL)
    y = np.array([[1.0, 0.0]] * 3 + [[0.0, 1.0]] * 3, dtype=np.float32)
    head = fit_head(x, y, ("aspect:conduct", "aspect:factual_accuracy"), exclusive=False)
    (scores,) = head.predict(vectors_of(tokenizer, [PARAPHRASE]))
    assert scores[0] > 0.5 > scores[1]


def shipped() -> SpacyClassifier:
    return SpacyClassifier.load(SHIPPED_MODEL)


def test_the_shipped_model_blends_what_training_chose() -> None:
    model = shipped()
    if model.nlp.meta["intake"].get("stacked") != list(STACK):
        pytest.skip("the shipped model predates the current stack: run `intake-bot nlp train`")
    heads = model.nlp.get_pipe(VECTOR_HEADS)
    assert heads.blend == BLEND  # type: ignore[attr-defined]
    assert sorted(heads.stacks) == sorted(STACK)  # type: ignore[attr-defined]
    assert all(0 < w < 1 for w in heads.blend.values())  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", ["", "\x00\x01\x02\ufffd\x7f", "😀😀 🙏", "12345 !!! ---"])
def test_text_without_known_words_keeps_the_bag_of_words_scores(text: str) -> None:
    model = shipped()
    (blended,) = model.nlp.pipe([text])
    with model.nlp.select_pipes(disable=[VECTOR_HEADS]):
        (plain,) = model.nlp.pipe([text])
    assert len(load_vectors().rows(plain)) == 0
    assert blended.cats == plain.cats


def test_heads_change_scores_of_ordinary_text() -> None:
    model = shipped()
    text = "The inspector sneered at my deputy and yelled at the children."
    (blended,) = model.nlp.pipe([text])
    with model.nlp.select_pipes(disable=[VECTOR_HEADS]):
        (plain,) = model.nlp.pipe([text])
    assert blended.cats["intent:complaint"] != plain.cats["intent:complaint"]
    assert blended.cats["safeguarding"] == plain.cats["safeguarding"]


def test_a_model_trained_on_other_vectors_is_refused(tmp_path: Path) -> None:
    import shutil

    target = tmp_path / "model"
    shutil.copytree(SHIPPED_MODEL, target)
    cfg = target / VECTOR_HEADS / "cfg.json"
    cfg.write_text(cfg.read_text(encoding="utf-8").replace(
        load_vectors().digest, "0" * 16), encoding="utf-8")
    with pytest.raises(ValueError, match="word vectors changed"):
        SpacyClassifier.load(target)


def test_the_heads_survive_a_round_trip_through_bytes() -> None:
    model = shipped()
    text = "The inspector laughed at a child's drawing in front of the class."
    (before,) = model.nlp.pipe([text])
    restored = spacy.load(SHIPPED_MODEL)
    heads = restored.get_pipe(VECTOR_HEADS)
    heads.heads, heads.blend = {}, {}  # type: ignore[attr-defined]
    heads.from_bytes(model.nlp.get_pipe(VECTOR_HEADS).to_bytes())  # type: ignore[attr-defined]
    (after,) = restored.pipe([text])
    assert after.cats == pytest.approx(before.cats)
    assert heads.blend == model.nlp.meta["intake"]["vector_blend"]  # type: ignore[attr-defined]
