"""Mail census: every test mail file through a real ``intake-bot serve``, counted.

Sends each ``.eml`` in tests/fixtures/eml (hand-written) and tests/fixtures/corpus (public
test mail of other mail libraries, see its SOURCES.md) over SMTP, one connection, in file
order, with the envelope sender an MTA would have used (Return-Path; null for bounces).
Letters go to a capture relay on loopback. When every message has a final disposition and
the outbox is empty, it reads ``intake-bot messages export``, prints the counts by
disposition (overall and per source folder) and the letters the relay received, and
writes them to docs/benchmarks.md under "Mail census".

    .venv/bin/python bench/mail_census.py                 # SQLite and PostgreSQL
    .venv/bin/python bench/mail_census.py --db sqlite --max-bytes 300000 --no-write
"""

from __future__ import annotations

import argparse
import json
import re
import smtplib
import subprocess
import sys
import tempfile
import time
from collections import Counter as Tally
from collections import defaultdict
from contextlib import ExitStack
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import command_line, stamp, write_section
from bench.serve_process import (
    BIN,
    ROOT,
    CaptureRelay,
    Counter,
    ServeProcess,
    free_port,
    pg_database,
    serve_env,
    wait_for,
)
from intake.email.parse import external_id_of

FIXTURES = ROOT / "tests" / "fixtures"
FOLDERS = (FIXTURES / "eml", FIXTURES / "corpus")
MAILBOX = "enquiries@example.org"
RETURN_PATH = re.compile(rb"^Return-Path:[ \t]*<([\x21-\x7e]*)>", re.M | re.I)
FALLBACK_SENDER = "census-sender@example.org"
BOUNCE_COLLECTION = "corpus/flufl.bounce"  # delivery failure reports only
REFERENCE = re.compile(r"\b[A-Z]{2,5}-\d{4}-\d{5,}\b")  # PRODUCT.md, cases export
DISPOSITIONS = ("new_case", "reply", "duplicate", "bounce", "autoreply", "list", "spam",
                "quarantined", "failed", "pending")
SETTLE_TIMEOUT = 600.0
TITLES = {"sqlite": "SQLite", "postgres": "PostgreSQL"}


def mail_files() -> list[Path]:
    """Every test mail file, hand-written first, in a stable order."""
    return [p for folder in FOLDERS for p in sorted(folder.rglob("*.eml"))]


def origin(path: Path) -> str:
    """The source a file belongs to: ``eml`` or the corpus folder it sits in."""
    rel = path.relative_to(FIXTURES)
    return rel.parts[0] if rel.parts[0] == "eml" else f"corpus/{rel.parts[1]}"


def envelope_sender(raw: bytes) -> str:
    """The envelope sender an MTA would have used: Return-Path, null for a bounce."""
    match = RETURN_PATH.search(raw.split(b"\n\n", 1)[0])
    return FALLBACK_SENDER if match is None else match.group(1).decode("ascii")


@dataclass
class Census:
    files: list[Path]
    accepted: list[Path] = field(default_factory=list)
    refused: list[tuple[Path, int]] = field(default_factory=list)  # file, SMTP reply code
    rows: list[dict[str, object]] = field(default_factory=list)  # messages export
    cases: list[dict[str, Any]] = field(default_factory=list)  # cases export
    letters: list[tuple[str, list[str]]] = field(default_factory=list)  # reference, rcpts
    with_content: int = 0  # rows of ``messages export --with-content``
    seconds: float = 0.0
    exit_code: int | None = None  # of serve after SIGTERM
    settled: bool = False

    def by_file(self) -> list[tuple[Path, dict[str, object]]]:
        """Accepted files beside their rows: one connection, so row ids follow send order."""
        ordered = sorted(self.rows, key=lambda r: int(str(r["id"])))
        pairs = list(zip(self.accepted, ordered, strict=True))
        for path, row in pairs:  # the order holds: every Message-ID is where it should be
            expected = external_id_of(path.read_bytes())
            if not expected.startswith("generated.") and row["external_id"] != expected:
                raise RuntimeError(f"{path.name}: stored as {row['external_id']!r}")
        return pairs

    def letter_statuses(self) -> Tally[str]:
        """Letters of every case by kind and status, from ``cases export``."""
        return Tally(f"{lt['kind']} {lt['status']}" for case in self.cases
                     for lt in case.get("letters", []))


def send_all(port: int, census: Census) -> None:
    """Send every file on one SMTP connection; a refusal is counted, never retried."""
    with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
        for path in census.files:
            raw = path.read_bytes()
            try:
                smtp.sendmail(envelope_sender(raw), [MAILBOX], raw)
            except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError,
                    smtplib.SMTPRecipientsRefused) as exc:
                code = getattr(exc, "smtp_code", 550)
                census.refused.append((path, int(code)))
                smtp.rset()
                continue
            census.accepted.append(path)


def export(what: str, env: dict[str, str], workdir: Path,
           *options: str) -> list[dict[str, object]]:
    """Rows from ``intake-bot <what> export``, the command-line contract's view."""
    out = subprocess.run(BIN + [what, "export", *options], env=env, cwd=workdir, check=True,
                         capture_output=True, timeout=120).stdout
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


def relayed_letters(relay: CaptureRelay) -> list[tuple[str, list[str]]]:
    """What the relay received: each letter's case reference (from its subject), recipients."""
    letters = []
    for item in relay.messages:
        msg = message_from_bytes(item.data, policy=policy.default)
        found = REFERENCE.search(str(msg.get("Subject", "")))
        letters.append((found.group(0) if found else "", item.rcpts))
    return letters


def run(max_bytes: int | None, db: str) -> Census:
    """One census in a throwaway folder, on its own SQLite or PostgreSQL database."""
    with ExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="census-")))
        url = (stack.enter_context(pg_database("intake_census_")) if db == "postgres"
               else f"sqlite:///{workdir / 'intake.db'}")
        return _run(url, workdir, max_bytes)


def _run(db_url: str, workdir: Path, max_bytes: int | None) -> Census:
    """Start serve and the relay, send, wait until settled, read the exports, stop."""
    census = Census(mail_files())
    relay = CaptureRelay().start()
    extra = {"INTAKE_MAX_MESSAGE_BYTES": str(max_bytes)} if max_bytes else {}
    env = serve_env(db_url, free_port(), relay.port, workdir, INTAKE_MAILBOXES=MAILBOX,
                    **extra)
    serve = ServeProcess(env, workdir).start()
    counter = Counter(db_url)
    try:
        started = time.monotonic()
        send_all(serve.smtp_port, census)
        census.settled = wait_for(lambda: counter.messages() == len(census.accepted)
                                  and counter.unfinished() == 0
                                  and counter.outbox_waiting() == 0, SETTLE_TIMEOUT, 0.25)
        census.seconds = time.monotonic() - started
        census.rows = export("messages", env, workdir)
        census.cases = export("cases", env, workdir)
        census.with_content = len(export("messages", env, workdir, "--with-content"))
        census.letters = relayed_letters(relay)
    finally:
        counter.dispose()
        census.exit_code = serve.terminate()
        relay.stop()
    return census


def _table(counts: dict[str, Tally[str]]) -> list[str]:
    """A Markdown table: one row per source, one column per disposition seen."""
    seen = [d for d in DISPOSITIONS if any(c[d] for c in counts.values())]
    lines = ["| source | files | " + " | ".join(seen) + " |",
             "|---|---:|" + "---:|" * len(seen)]
    for name, tally in counts.items():
        cells = " | ".join(str(tally[d]) for d in seen)
        lines.append(f"| {name} | {sum(tally.values())} | {cells} |")
    return lines


def _opened_by(pairs: list[tuple[Path, dict[str, object]]]) -> dict[str, Path]:
    """Case reference -> the file whose message opened that case."""
    return {str(row["case"]): path for path, row in pairs if row["disposition"] == "new_case"}


def _letter_lines(census: Census, opened_by: dict[str, Path], new_cases: int) -> list[str]:
    """What was written, what reached the relay, and letters that answered machine mail."""
    statuses = ", ".join(f"{k}: {v}" for k, v in sorted(census.letter_statuses().items()))
    answered = [opened_by.get(ref) for ref, _ in census.letters]
    unmatched = sum(path is None for path in answered)
    to_bounces = sorted(p.name for p in answered if p and origin(p) == BOUNCE_COLLECTION)
    named = f" ({', '.join(f'`{n}`' for n in to_bounces)})" if to_bounces else ""
    return [f"Letters of the {new_cases} new cases (`cases export`): {statuses}.  ",
            f"Letters the relay received: {len(census.letters)}; of them answering a message "
            f"that did not open a case: {unmatched}.  ",
            f"Letters answering files of `{BOUNCE_COLLECTION}` (all machine mail, so each "
            f"one is a bounce the screen missed): {len(to_bounces)}{named}."]


def summarise(census: Census) -> str:
    """The section body: counts overall and per source, refusals, quarantine, letters."""
    pairs = census.by_file()
    per_source: dict[str, Tally[str]] = defaultdict(Tally)
    for path, row in pairs:
        per_source[origin(path)][str(row["disposition"])] += 1
    total: Tally[str] = sum(per_source.values(), Tally())
    per_source["all"] = total
    refused = ", ".join(f"`{p.name}` ({code})" for p, code in census.refused) or "none"
    quarantined = ", ".join(f"`{p.name}`" for p, row in pairs
                            if row["disposition"] == "quarantined") or "none"
    settled = "all settled" if census.settled else "NOT all settled"
    stopped = f"serve exited {census.exit_code} on SIGTERM"
    lines = [f"{len(census.files)} files sent over SMTP, {len(census.accepted)} stored "
             f"(`250`), {len(census.refused)} refused; {settled} in {census.seconds:.1f} s "
             f"(send, pipeline, outbox); {stopped}.", "", *_table(dict(per_source)), "",
             f"Refused: {refused}.  ", f"Quarantined: {quarantined}.  ",
             f"`messages export --with-content` (decoded subject, text, attachments): "
             f"{census.with_content} rows.", "",
             *_letter_lines(census, _opened_by(pairs), total["new_case"])]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both",
                        help="database of the serve process (PostgreSQL: a throwaway one)")
    parser.add_argument("--max-bytes", type=int, default=None,
                        help="INTAKE_MAX_MESSAGE_BYTES for the run (default: the bot's own)")
    parser.add_argument("--no-write", action="store_true",
                        help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    parts = []
    for db in ("sqlite", "postgres") if args.db == "both" else (args.db,):
        part = f"### {TITLES[db]}\n\n" + summarise(run(args.max_bytes, db))
        print(part + "\n", flush=True)
        parts.append(part)
    if not args.no_write:
        write_section("Mail census", stamp(command_line()) + "\n" + "\n\n".join(parts))


if __name__ == "__main__":
    main()
