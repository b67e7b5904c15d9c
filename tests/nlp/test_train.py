"""Training is reproducible, and staff corrections become training examples."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from intake.cases.db import Store
from intake.cases.models import Case, Label, Message
from nlp.corrections import load_corrections
from nlp.dataset import LabelledExample
from nlp.train import train_model
from nlp.trained import SpacyClassifier

WHEN = datetime(2026, 2, 2, 10, 0, tzinfo=UTC)

TEXTS = {
    "complaint": ["The lead inspector was rude to my staff and ignored our evidence.",
                  "We disagree with the judgement in our inspection report.",
                  "The inspector was dismissive and the grades are unfair."],
    "enquiry": ["When will our report be published?",
                "Can you tell me how long inspections last?",
                "Thank you for the helpful call yesterday."],
    "provider_concern": ["The nursery leaves children unsupervised in the garden.",
                         "My son's school has no teacher for maths this term.",
                         "The childminder has too many children in her care."],
}


def examples() -> list[LabelledExample]:
    out = []
    for intent, texts in TEXTS.items():
        for n, text in enumerate(texts):
            out.append(LabelledExample(
                id=f"{intent}-{n}", text=text, subject=None, channel="email",
                received_at=WHEN, intent=intent,
                aspects=["conduct"] if intent == "complaint" else [],
                inspectorates=["ofsted"] if intent == "complaint" else [],
                regime="ofsted", safeguarding="unsupervised" in text))
    return out


def scores(path: Path) -> list[dict[str, float]]:
    model = SpacyClassifier.load(path)
    return [doc.cats for doc in model.nlp.pipe(["The inspector was rude.",
                                                "When is the report out?"])]


def test_training_twice_with_the_same_seed_gives_the_same_model(tmp_path: Path) -> None:
    first = train_model(examples(), tmp_path / "a", epochs=3)
    second = train_model(examples(), tmp_path / "b", epochs=3)
    assert first.version == second.version
    assert scores(tmp_path / "a") == scores(tmp_path / "b")
    train_model(examples(), tmp_path / "c", epochs=3, seed=7)
    assert scores(tmp_path / "c") != scores(tmp_path / "a")


def test_training_replaces_an_existing_model_and_records_its_data(tmp_path: Path) -> None:
    target = tmp_path / "model"
    train_model(examples()[:6], target, epochs=1)
    result = train_model(examples(), target, epochs=2, corrections=2)
    meta = SpacyClassifier.load(target).nlp.meta["intake"]
    assert meta["model_version"] == result.version
    assert meta["examples"] == 9 and meta["corrections"] == 2
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".model-")]


def test_training_without_examples_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no labelled examples"):
        train_model([], tmp_path / "model")


def _case_with_correction(store: Store) -> None:
    with store.session() as session:
        case = Case(reference="CMP-2026-00001", channel="email", received_at=WHEN,
                    intent="enquiry", aspects=[], inspectorates=[], regime="ofsted",
                    safeguarding=False)
        session.add(case)
        session.flush()
        session.add(Message(channel="email", external_id="m1@example.org", received_at=WHEN,
                            raw=b"raw", subject="About our inspection",
                            text="The inspector shouted at staff.\n> quoted",
                            new_text="The inspector shouted at staff.", case_id=case.id))
        model = "model:spacy-bow-x"
        session.add_all([
            Label(case_id=case.id, name="intent", value="enquiry", source=model,
                  superseded_at=WHEN),
            Label(case_id=case.id, name="intent", value="complaint", source="staff:U123"),
            Label(case_id=case.id, name="aspect", value="conduct", source="staff:U123"),
            Label(case_id=case.id, name="inspectorate", value="ofsted", source="staff:U123"),
            Label(case_id=case.id, name="regime", value="ofsted", source=model),
            Label(case_id=case.id, name="safeguarding", value="false", source=model),
        ])
        # A case nobody corrected is not a training example.
        session.add(Case(reference="CMP-2026-00002", channel="email", received_at=WHEN,
                         intent="enquiry", aspects=[], inspectorates=[], regime="ofsted",
                         safeguarding=False))


def test_staff_corrections_become_labelled_examples(store: Store) -> None:
    _case_with_correction(store)
    (example,) = load_corrections(store.url)
    assert example.id == "correction-CMP-2026-00001"
    assert example.text == "The inspector shouted at staff."
    assert example.subject == "About our inspection"
    assert example.intent == "complaint"
    assert example.aspects == ["conduct"]
    assert example.inspectorates == ["ofsted"]
    assert example.regime == "ofsted" and example.safeguarding is False
    assert example.source == "staff"


def test_unreadable_corrections_database_is_a_clear_error(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from intake.cli import cli

    url = f"sqlite:///{tmp_path / 'missing' / 'intake.db'}"
    result = CliRunner().invoke(cli, ["nlp", "evaluate", "--with-corrections",
                                      "--database-url", url])
    assert result.exit_code == 1
    assert "cannot read staff corrections" in result.output
    assert "Traceback" not in result.output
