"""The lines of ``intake-bot classify`` and ``intake-bot nlp train|evaluate``.

``classify`` (reading stdin: ``intake.classify``) is PRODUCT.md's command-line contract:
JSON Lines in, one JSON line out per non-blank input line, in order; a bad line yields
``{"id", "line", "error"}`` and the batch goes on. It touches no database. Here each line
is checked and the lines are classified in batches through ``nlp.pipe``; if a batch fails,
its lines are retried one by one so only the line at fault gets an error.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from intake.classify import Classifier, ClassifyInput
from intake.records import Classification
from intake.rules.deadlines import compute_deadlines
from nlp.dataset import parse_received

log = logging.getLogger(__name__)

BATCH_LINES = 512
CHANNELS = ("email", "slack", "phone")


@dataclass(frozen=True)
class Line:
    """One non-blank input line: a valid item, or the error it gets."""

    number: int
    id: Any
    item: ClassifyInput | None = None
    error: str | None = None


def parse_line(number: int, raw: str) -> Line:
    """Validate one input line against the contract; never raises."""
    try:
        record = json.loads(raw)
    except ValueError:
        return Line(number, None, error="not valid JSON")
    if not isinstance(record, dict):
        return Line(number, None, error="a line must be a JSON object")
    ident = record.get("id")
    if not isinstance(ident, str | int) or isinstance(ident, bool) or ident == "":
        return Line(number, ident if isinstance(ident, str | int) else None,
                    error="missing or invalid id (a string is required)")
    text, subject = record.get("text"), record.get("subject")
    if not isinstance(text, str):
        return Line(number, ident, error="missing or invalid text (a string is required)")
    if subject is not None and not isinstance(subject, str):
        return Line(number, ident, error="subject must be a string or null")
    channel = record.get("channel") or "email"
    if channel not in CHANNELS:
        return Line(number, ident, error=f"channel must be one of {', '.join(CHANNELS)}")
    received = record.get("received_at")
    try:
        received_at = parse_received(received) if isinstance(received, str) else None
    except ValueError:
        received_at = None
    if received_at is None:
        return Line(number, ident, error="missing or invalid received_at (ISO 8601 datetime)")
    return Line(number, ident, ClassifyInput(text, subject, channel, received_at))


def output_record(ident: Any, item: ClassifyInput, c: Classification) -> dict[str, Any]:
    """The contract's output object, with deadlines from the rules engine."""
    deadlines = compute_deadlines(regime=c.regime, intent=c.intent, received_at=item.received_at,
                                  published=c.report_published, aspects=c.aspects).to_json()
    return {
        "id": ident,
        "intent": c.intent,
        "aspects": sorted(c.aspects),
        "inspectorates": sorted(c.inspectorates),
        "regime": c.regime,
        "safeguarding": c.safeguarding,
        "urn": c.urn,
        "report_published": c.report_published.isoformat() if c.report_published else None,
        "draft_received": c.draft_received.isoformat() if c.draft_received else None,
        "out_of_time": deadlines["out_of_time"],
        "time_limit_ends": deadlines["time_limit_ends"],
        "acknowledge_by": deadlines["acknowledge_by"],
        "respond_by": deadlines["respond_by"],
        "rule": deadlines["rule"],
        "confidence": c.confidence,
    }


def _error(line: Line, message: str) -> dict[str, Any]:
    return {"id": line.id, "line": line.number, "error": message}


def _one(classifier: Classifier, line: Line) -> dict[str, Any]:
    assert line.item is not None
    try:
        return output_record(line.id, line.item, classifier.classify(line.item))
    except ValueError as exc:  # e.g. a received date outside the supported range
        return _error(line, str(exc))
    except Exception:  # noqa: BLE001 - one bad line must never end the batch
        log.exception("classification failed on input line %d", line.number)
        return _error(line, "could not classify this message")


def classify_batch(classifier: Classifier, lines: list[Line]) -> list[dict[str, Any]]:
    """Outputs for a batch of parsed lines, in order."""
    valid = [line for line in lines if line.item is not None]
    try:
        results = classifier.classify_many([line.item for line in valid])  # type: ignore[misc]
        by_number = {}
        for line, c in zip(valid, results, strict=True):
            try:
                by_number[line.number] = output_record(line.id, line.item, c)  # type: ignore[arg-type]
            except ValueError as exc:
                by_number[line.number] = _error(line, str(exc))
    except Exception:  # noqa: BLE001 - fall back to one at a time to isolate the bad line
        by_number = {line.number: _one(classifier, line) for line in valid}
    return [by_number[line.number] if line.item is not None else _error(line, line.error or "")
            for line in lines]


# --- nlp train | evaluate -------------------------------------------------------------

@click.group("nlp")
def nlp_group() -> None:
    """Train and evaluate the classification pipeline."""


@nlp_group.command("train")
@click.option("--with-corrections", is_flag=True, help="add staff corrections from the "
              "case database to the training data")
@click.option("--database-url", default=None, help="case database (default: the configured "
              "INTAKE_DATABASE_URL)")
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="where to write the model (default: the shipped nlp/model)")
@click.option("--epochs", type=click.IntRange(1, 200), default=None, help="training epochs")
def train_command(with_corrections: bool, database_url: str | None, out: Path | None,
                  epochs: int | None) -> None:
    """Rebuild the model from nlp/data (train and dev splits), with a fixed seed."""
    from nlp.commands import train

    train(with_corrections=with_corrections, database_url=database_url, out=out,
          epochs=epochs)


@nlp_group.command("evaluate")
@click.option("--model", "model", type=click.Path(path_type=Path), default=None,
              help="model folder (default: the shipped nlp/model)")
@click.option("--docs", "docs", type=click.Path(path_type=Path), default=None,
              help="also write the results into this Markdown file's generated section")
@click.option("--with-corrections", is_flag=True, help="also score the staff corrections")
@click.option("--database-url", default=None, help="case database for --with-corrections")
def evaluate_command(model: Path | None, docs: Path | None, with_corrections: bool,
                     database_url: str | None) -> None:
    """Score the model and the keyword baseline on the test split and the evaluation set."""
    from nlp.commands import evaluate

    evaluate(model=model, docs=docs, with_corrections=with_corrections,
             database_url=database_url)
