"""Labelled examples: reading the JSON Lines files and turning labels into training targets.

The format is the classify output's labels plus the input fields (``nlp/data/*.jsonl``).
Training reads ``train.jsonl`` (and ``dev.jsonl`` to tune thresholds); evaluation reads
``test.jsonl`` and the held-out ``eval/*.jsonl`` files, which training never sees.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from intake.classify import ClassifyInput
from nlp.labels import ASPECTS, INSPECTORATES, INTENTS, REGIMES

DATA_DIR = Path(__file__).resolve().parent / "data"
LONDON = ZoneInfo("Europe/London")


class DatasetError(ValueError):
    """A labelled example file cannot be read; the message names file and line."""


@dataclass
class LabelledExample:
    id: str
    text: str
    subject: str | None
    channel: str
    received_at: datetime
    intent: str
    aspects: list[str]
    inspectorates: list[str]
    regime: str
    safeguarding: bool
    urn: str | None = None
    report_published: date | None = None
    draft_received: date | None = None
    source: str = field(default="file", compare=False)

    def as_input(self) -> ClassifyInput:
        return ClassifyInput(text=self.text, subject=self.subject,
                             channel=self.channel,  # type: ignore[arg-type]
                             received_at=self.received_at)


def _date(value: object) -> date | None:
    return date.fromisoformat(value) if isinstance(value, str) else None


def parse_received(value: str) -> datetime:
    """ISO 8601; a time without offset is Europe/London time (PRODUCT.md, classify)."""
    stamp = datetime.fromisoformat(value)
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=LONDON)


def from_record(record: dict[str, object], source: str = "file") -> LabelledExample:
    """One example from its JSON object; raises KeyError/ValueError on bad records."""
    return LabelledExample(
        id=str(record["id"]),
        text=str(record["text"]),
        subject=record.get("subject") or None,  # type: ignore[arg-type]
        channel=str(record.get("channel") or "email"),
        received_at=parse_received(str(record["received_at"])),
        intent=str(record["intent"]),
        aspects=sorted(record.get("aspects") or []),  # type: ignore[arg-type]
        inspectorates=sorted(record.get("inspectorates") or []),  # type: ignore[arg-type]
        regime=str(record["regime"]),
        safeguarding=bool(record.get("safeguarding")),
        urn=record.get("urn") or None,  # type: ignore[arg-type]
        report_published=_date(record.get("report_published")),
        draft_received=_date(record.get("draft_received")),
        source=source,
    )


def load_jsonl(path: Path) -> list[LabelledExample]:
    """Every example in one file; a bad line is an error naming file and line number."""
    examples = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                examples.append(from_record(json.loads(line)))
            except (KeyError, ValueError, TypeError) as exc:
                raise DatasetError(f"{path.name} line {number}: {exc}") from None
    return examples


def load_split(name: str, data_dir: Path = DATA_DIR) -> list[LabelledExample]:
    """``train``, ``dev`` or ``test``; an empty list when the split is not written yet."""
    path = data_dir / f"{name}.jsonl"
    return load_jsonl(path) if path.exists() else []


def load_eval(data_dir: Path = DATA_DIR, folder: str = "eval") -> list[LabelledExample]:
    """A held-out set: every ``<folder>/*.jsonl`` file, in name order.

    ``eval`` was read while the rule layer was written; ``blind`` was written afterwards by
    someone who saw neither the data nor the classifier, and nothing was tuned on it;
    ``blind2`` likewise, later, once ``blind`` had been read while choosing what to build;
    ``blind3`` likewise, once ``blind2`` had been read.
    """
    out: list[LabelledExample] = []
    for path in sorted((data_dir / folder).glob("*.jsonl")):
        out.extend(load_jsonl(path))
    return out


def training_text(subject: str | None, text: str) -> str:
    """What the classifiers read: the subject line, then the body."""
    subject = (subject or "").strip()
    return f"{subject}\n\n{text}" if subject else text


def targets(example: LabelledExample) -> dict[str, dict[str, float]]:
    """Training targets per classifier; label names carry the confidence-key prefixes."""
    return {
        "intent": {f"intent:{i}": float(example.intent == i) for i in INTENTS},
        "aspects": {f"aspect:{a}": float(a in example.aspects) for a in ASPECTS},
        "inspectorates": {f"inspectorate:{i}": float(i in example.inspectorates)
                          for i in INSPECTORATES},
        "regime": {f"regime:{r}": float(example.regime == r) for r in REGIMES},
        "safeguarding": {"safeguarding": float(example.safeguarding)},
    }
