"""Validate the labelled examples and write a fixed train/dev/test split.

Reads every ``source/*.jsonl`` file next to this script (both writers' batches), checks
each record against the label vocabularies of the complaint rules (sections 1 and 8),
drops exact and near-duplicate texts, and writes a deterministic 70/15/15 split,
stratified by intent, to ``train.jsonl``, ``dev.jsonl`` and ``test.jsonl``.

Near-duplicates that survive the drop (same story told twice with different wording)
are grouped and always land in the same split, so a model is never scored on a text it
has effectively seen in training.

Run from the repository root: ``python -m nlp.data.make_split`` (``--check`` only
validates and reports, writing nothing).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

DATA_DIR = Path(__file__).resolve().parent
SOURCE_DIR = DATA_DIR / "source"
DATASHEET = DATA_DIR / "DATASHEET.md"
COUNTS_START = "<!-- counts:start (written by make_split.py) -->"
COUNTS_END = "<!-- counts:end -->"
SPLITS = ("train", "dev", "test")
SPLIT_SHARES = (0.70, 0.15, 0.15)

INTENTS = (
    "withhold_publication",
    "escalation",
    "complaint",
    "information_request",
    "provider_concern",
    "enquiry",
)
ASPECT_INTENTS = frozenset({"withhold_publication", "escalation", "complaint"})
ASPECTS = frozenset({"conduct", "judgement", "factual_accuracy", "process"})
INSPECTORATES = frozenset({"ofsted", "cqc", "hmic", "hmi_probation", "audit_commission"})
REGIMES = frozenset({"ofsted", "jtai", "jar", "slac", "external"})
CHANNELS = frozenset({"email", "slack", "phone"})
URN_RE = re.compile(r"(?:\d{6,7}|(?:EY|SC)\d{6})")
LONDON = ZoneInfo("Europe/London")

# Field order in the written files: the shape of the classify output plus provenance.
FIELDS = (
    "id",
    "text",
    "subject",
    "channel",
    "received_at",
    "intent",
    "aspects",
    "inspectorates",
    "regime",
    "safeguarding",
    "urn",
    "report_published",
    "draft_received",
)

SHINGLE_SIZE = 5
# Texts this similar are the same message twice: keep the first (by id), drop the rest.
DROP_JACCARD = 0.8
# Texts this similar are near-duplicates: kept, but placed in the same split.
GROUP_JACCARD = 0.6


class DataError(ValueError):
    """A labelled example breaks the format or the label vocabularies."""


@dataclass(frozen=True)
class SplitResult:
    """The outcome of one run: records per split and what was dropped or grouped."""

    splits: dict[str, list[dict]]
    dropped: list[tuple[str, str]]  # (dropped id, kept id)
    groups: int  # groups of two or more near-duplicates, each kept in one split


# --------------------------------------------------------------------------- validation


def _check_date(value: object, field: str) -> date | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DataError(f"{field} must be a YYYY-MM-DD string or null")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DataError(f"{field} is not a YYYY-MM-DD date: {value!r}") from None


def _check_received(value: object) -> datetime:
    """The received time must carry the UTC offset London actually had at that instant."""
    if not isinstance(value, str):
        raise DataError("received_at must be an ISO 8601 string")
    try:
        stamp = datetime.fromisoformat(value)
    except ValueError:
        raise DataError(f"received_at is not ISO 8601: {value!r}") from None
    if stamp.utcoffset() is None:
        raise DataError("received_at has no UTC offset")
    if stamp.utcoffset() != stamp.astimezone(LONDON).utcoffset():
        raise DataError(f"received_at offset is not London's offset on that day: {value}")
    return stamp


def _check_list(record: dict, field: str, vocabulary: frozenset[str]) -> list[str]:
    values = record.get(field)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise DataError(f"{field} must be a list of strings")
    unknown = sorted(set(values) - vocabulary)
    if unknown:
        raise DataError(f"{field} has unknown labels: {unknown}")
    if values != sorted(set(values)):
        raise DataError(f"{field} must be sorted and without repeats: {values}")
    return values


def _check_labels(record: dict) -> None:
    intent = record.get("intent")
    if intent not in INTENTS:
        raise DataError(f"intent {intent!r} is not one of {list(INTENTS)}")
    aspects = _check_list(record, "aspects", ASPECTS)
    if intent not in ASPECT_INTENTS and aspects:
        raise DataError(f"aspects must be empty for intent {intent}")
    if intent in {"complaint", "escalation"} and not aspects:
        raise DataError(f"a {intent} needs at least one aspect")
    inspectorates = _check_list(record, "inspectorates", INSPECTORATES)
    if intent in ASPECT_INTENTS and not inspectorates:
        raise DataError(f"a {intent} must name the inspectorate it is about")
    regime = record.get("regime")
    if regime not in REGIMES:
        raise DataError(f"regime {regime!r} is not one of {sorted(REGIMES)}")
    if intent == "provider_concern" and regime != "ofsted":
        raise DataError("provider_concern uses regime ofsted (RULES.md section 8)")
    if intent in ASPECT_INTENTS and regime == "external" and "ofsted" in inspectorates:
        raise DataError("regime external is another inspectorate's work alone, not Ofsted's")
    if not isinstance(record.get("safeguarding"), bool):
        raise DataError("safeguarding must be true or false")


def validate_record(record: object) -> dict:
    """Return the record in canonical field order, or raise DataError naming the problem."""
    if not isinstance(record, dict):
        raise DataError("line is not a JSON object")
    missing = [f for f in FIELDS if f not in record]
    extra = sorted(set(record) - set(FIELDS))
    if missing or extra:
        raise DataError(f"fields missing {missing} or unexpected {extra}")
    if not isinstance(record["id"], str) or not record["id"].strip():
        raise DataError("id must be a non-empty string")
    if not isinstance(record["text"], str) or not record["text"].strip():
        raise DataError("text must be a non-empty string")
    if record["subject"] is not None and not isinstance(record["subject"], str):
        raise DataError("subject must be a string or null")
    if record["channel"] not in CHANNELS:
        raise DataError(f"channel {record['channel']!r} is not one of {sorted(CHANNELS)}")
    received = _check_received(record["received_at"]).astimezone(LONDON).date()
    _check_labels(record)
    urn = record["urn"]
    if urn is not None and not (isinstance(urn, str) and URN_RE.fullmatch(urn)):
        raise DataError(f"urn {urn!r} is not 6-7 digits or EY/SC + 6 digits")
    for field in ("report_published", "draft_received"):
        stated = _check_date(record[field], field)
        if stated is not None and stated > received:
            raise DataError(f"{field} {stated} is after the received date {received}")
    return {field: record[field] for field in FIELDS}


def load_records(paths: Iterable[Path]) -> tuple[list[dict], list[str]]:
    """Read and validate every line; return the good records and one message per problem."""
    records: list[dict] = []
    errors: list[str] = []
    seen: dict[str, str] = {}
    for path in paths:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path.name}:{number}"
            try:
                record = validate_record(json.loads(line))
            except json.JSONDecodeError as exc:
                errors.append(f"{where}: not valid JSON ({exc.msg})")
                continue
            except DataError as exc:
                errors.append(f"{where}: {exc}")
                continue
            if record["id"] in seen:
                errors.append(f"{where}: id {record['id']} already used at {seen[record['id']]}")
                continue
            seen[record["id"]] = where
            records.append(record)
    return records, errors


def source_files(source_dir: Path = SOURCE_DIR) -> list[Path]:
    """Both writers' batch files, in name order so runs are reproducible."""
    return sorted(source_dir.glob("*.jsonl"))


# ------------------------------------------------------------------------ near-duplicates


def normalise(text: str) -> str:
    """Lower-case words, every digit as 0: punctuation, spacing or a changed date, URN or
    phone number do not make a text new. Words in any script count (an Urdu message is not
    the same as an empty one)."""
    return " ".join(re.findall(r"[^\W_]+", re.sub(r"\d", "0", text.lower())))


def shingles(text: str, size: int = SHINGLE_SIZE) -> frozenset[tuple[str, ...]]:
    """Word n-grams of the normalised text; a text shorter than n is one shingle."""
    words = normalise(text).split()
    if len(words) < size:
        return frozenset({tuple(words)})
    return frozenset(tuple(words[i : i + size]) for i in range(len(words) - size + 1))


def jaccard(a: frozenset, b: frozenset) -> float:
    """Share of shingles two texts have in common."""
    if not a and not b:
        return 1.0
    return len(a & b) / len(a | b)


def similar_pairs(
    texts: Sequence[str], threshold: float, others: Sequence[str] | None = None
) -> list[tuple[int, int, float]]:
    """Pairs (i, j, similarity) at or above threshold, found through shared shingles.

    With ``others``, pairs are between ``texts[i]`` and ``others[j]``; without, between
    two different members of ``texts`` (i < j). Equal normalised texts always pair.
    """
    left = [shingles(t) for t in texts]
    right = left if others is None else [shingles(t) for t in others]
    index: dict[tuple[str, ...], list[int]] = defaultdict(list)
    for j, grams in enumerate(right):
        for gram in grams:
            index[gram].append(j)
    pairs = []
    for i, grams in enumerate(left):
        # Shared shingles per candidate give the Jaccard without building set unions.
        shared = Counter(j for gram in grams for j in index[gram])
        for j, common in sorted(shared.items()):
            if others is None and j <= i:
                continue
            score = common / (len(grams) + len(right[j]) - common)
            if score >= threshold:
                pairs.append((i, j, score))
    return pairs


def drop_duplicates(records: list[dict]) -> tuple[list[dict], list[tuple[str, str]]]:
    """Keep the first record (by id) of each set of (near-)identical texts."""
    ordered = sorted(records, key=lambda r: r["id"])
    texts = [r["text"] for r in ordered]
    dropped_by: dict[int, int] = {}
    for i, j, _ in similar_pairs(texts, DROP_JACCARD):
        if i not in dropped_by and j not in dropped_by:
            dropped_by[j] = i
    kept = [r for k, r in enumerate(ordered) if k not in dropped_by]
    dropped = [(ordered[j]["id"], ordered[i]["id"]) for j, i in sorted(dropped_by.items())]
    return kept, dropped


def group_near_duplicates(records: list[dict]) -> list[list[dict]]:
    """Connected components of the near-duplicate graph (union-find), in id order."""
    parent = list(range(len(records)))

    def find(k: int) -> int:
        while parent[k] != k:
            parent[k] = parent[parent[k]]
            k = parent[k]
        return k

    for i, j, _ in similar_pairs([r["text"] for r in records], GROUP_JACCARD):
        parent[find(i)] = find(j)
    groups: dict[int, list[dict]] = defaultdict(list)
    for k, record in enumerate(records):
        groups[find(k)].append(record)
    return sorted(groups.values(), key=lambda g: g[0]["id"])


# ---------------------------------------------------------------------------------- split


def _group_key(group: list[dict]) -> str:
    """A stable pseudo-random order: the hash of the group's ids, not file order."""
    return hashlib.sha256("|".join(r["id"] for r in group).encode()).hexdigest()


def _allocate(groups: list[list[dict]]) -> dict[str, list[list[dict]]]:
    """Fill train, then dev, then test, to 70/15/15 of this stratum's records."""
    total = sum(len(g) for g in groups)
    targets = [round(total * share) for share in SPLIT_SHARES[:2]]
    out: dict[str, list[list[dict]]] = {name: [] for name in SPLITS}
    filled = {name: 0 for name in SPLITS}
    for group in sorted(groups, key=_group_key):
        if filled["train"] < targets[0]:
            name = "train"
        elif filled["dev"] < targets[1]:
            name = "dev"
        else:
            name = "test"
        out[name].append(group)
        filled[name] += len(group)
    return out


def label_values(record: dict) -> set[tuple[str, str]]:
    """Every (field, value) label a record carries, used to check train covers them all."""
    values = {
        ("intent", record["intent"]),
        ("regime", record["regime"]),
        ("channel", record["channel"]),
        ("safeguarding", str(record["safeguarding"]).lower()),
    }
    values |= {("aspects", a) for a in record["aspects"]}
    values |= {("inspectorates", i) for i in record["inspectorates"]}
    return values


def _cover_train(out: dict[str, list[list[dict]]]) -> None:
    """Move one group into train for any label value that only dev or test carry."""
    train_values = {v for g in out["train"] for r in g for v in label_values(r)}
    for name in ("dev", "test"):
        for group in sorted(out[name], key=_group_key):
            values = {v for r in group for v in label_values(r)}
            if values - train_values:
                out[name].remove(group)
                out["train"].append(group)
                train_values |= values


def split_records(records: list[dict]) -> SplitResult:
    """Drop duplicates, group near-duplicates and stratify the groups by intent."""
    kept, dropped = drop_duplicates(records)
    groups = group_near_duplicates(kept)
    strata: dict[str, list[list[dict]]] = defaultdict(list)
    for group in groups:
        strata[Counter(r["intent"] for r in group).most_common(1)[0][0]].append(group)
    out: dict[str, list[list[dict]]] = {name: [] for name in SPLITS}
    for intent in INTENTS:
        for name, chosen in _allocate(strata.get(intent, [])).items():
            out[name].extend(chosen)
    _cover_train(out)
    splits = {
        name: sorted((r for g in out[name] for r in g), key=lambda r: r["id"]) for name in SPLITS
    }
    return SplitResult(splits=splits, dropped=dropped,
                       groups=sum(len(group) > 1 for group in groups))


def write_splits(result: SplitResult, out_dir: Path = DATA_DIR) -> None:
    """One JSON object per line, ids in order, so re-runs give byte-identical files."""
    for name, records in result.splits.items():
        lines = [json.dumps(r, ensure_ascii=False) for r in records]
        (out_dir / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def summary(result: SplitResult) -> str:
    """Counts per split and intent, for the console."""
    rows = [f"{'intent':<22}" + "".join(f"{name:>8}" for name in SPLITS)]
    for intent in INTENTS:
        counts = [sum(r["intent"] == intent for r in result.splits[n]) for n in SPLITS]
        rows.append(f"{intent:<22}" + "".join(f"{c:>8}" for c in counts))
    totals = [len(result.splits[n]) for n in SPLITS]
    rows.append(f"{'total':<22}" + "".join(f"{c:>8}" for c in totals))
    rows.append(f"near-duplicate groups (kept in one split): {result.groups}; "
                f"dropped: {len(result.dropped)}")
    return "\n".join(rows)


def counts_markdown(result: SplitResult) -> str:
    """Every label value per split and per writer (id prefix), as Markdown tables."""
    values = sorted(
        {v for rs in result.splits.values() for r in rs for v in label_values(r)},
        key=lambda v: (_FIELD_ORDER.index(v[0]), v[1]),
    )
    per_split = {n: Counter(v for r in result.splits[n] for v in label_values(r)) for n in SPLITS}
    records = [r for n in SPLITS for r in result.splits[n]]
    writers = sorted({r["id"].split("-", 1)[0] for r in records})
    per_writer = {
        w: Counter(v for r in records if r["id"].startswith(f"{w}-") for v in label_values(r))
        for w in writers
    }
    head = ["field", "value", *SPLITS, "all", *(f"writer {w}" for w in writers)]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    totals = [len(result.splits[n]) for n in SPLITS]
    by_writer = [sum(r["id"].startswith(f"{w}-") for r in records) for w in writers]
    cells = [*totals, sum(totals), *by_writer]
    rows.append("| **messages** | | " + " | ".join(map(str, cells)) + " |")
    for value in values:
        cells = [per_split[n][value] for n in SPLITS]
        cells += [sum(cells), *(per_writer[w][value] for w in writers)]
        rows.append(f"| {value[0]} | {value[1]} | " + " | ".join(map(str, cells)) + " |")
    note = (
        f"Groups of near-duplicates kept in one split: {result.groups}; "
        f"duplicates dropped: {len(result.dropped)}. "
        "Aspect and inspectorate rows count messages carrying the value (a message may carry "
        "several)."
    )
    return "\n".join([COUNTS_START, "", *rows, "", note, "", COUNTS_END])


_FIELD_ORDER = ("intent", "aspects", "inspectorates", "regime", "safeguarding", "channel")


def update_datasheet(result: SplitResult, path: Path = DATASHEET) -> None:
    """Replace the counts block of the datasheet, leaving the prose alone."""
    text = path.read_text(encoding="utf-8")
    start, end = text.find(COUNTS_START), text.find(COUNTS_END)
    if start < 0 or end < start:
        raise DataError(f"{path.name} has no counts block to update")
    block = counts_markdown(result)
    path.write_text(text[:start] + block + text[end + len(COUNTS_END) :], encoding="utf-8")


def main(argv: Sequence[str] | None = None) -> int:
    """Validate, split and write; exit status 1 (and nothing written) on any invalid line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="validate only, write nothing")
    parser.add_argument("--source", type=Path, default=SOURCE_DIR, help="folder of batches")
    parser.add_argument("--out", type=Path, default=DATA_DIR, help="folder for the splits")
    args = parser.parse_args(argv)
    records, errors = load_records(source_files(args.source))
    if not records and not errors:
        errors = [f"no *.jsonl batches in {args.source.name}"]
    if errors:
        print("\n".join(errors), file=sys.stderr)
        print(f"{len(errors)} problem(s); nothing written", file=sys.stderr)
        return 1
    result = split_records(records)
    for dropped, kept in result.dropped:
        print(f"dropped {dropped}: duplicate of {kept}")
    if not args.check:
        write_splits(result, args.out)
        if (args.out / DATASHEET.name).exists():
            update_datasheet(result, args.out / DATASHEET.name)
    print(summary(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
