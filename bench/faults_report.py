"""Runs the fault tests (tests/faults) and writes their outcome and duration to the docs.

The tests themselves hold no timed assertions; this records how long each took on this
machine, next to what it shows.

    .venv/bin/python bench/faults_report.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.report import ROOT, command_line, stamp, write_section

SHOWS = {
    "test_letters_wait_for_the_relay_and_none_is_lost_or_doubled":
        "relay down: every letter queued and retried with backoff; when the relay returns "
        "each goes exactly once",
    "test_postgres_down_answers_451_then_stores_the_retry":
        "PostgreSQL refusing connections: `451 4.3.0` (no exception text), the process "
        "stays up, the sender's retry is stored once and processed",
    "test_sqlite_locked_waits_and_then_stores":
        "SQLite locked by another writer for 2 s: the `250` waits for the lock, then the "
        "message is stored and processed",
    "test_sqlite_locked_past_the_busy_timeout_answers_451":
        "SQLite locked past the 30 s busy timeout: `451`, the retry is stored once",
    "test_database_that_cannot_open_answers_451_never_250":
        "a database that cannot be opened: every attempt `451`, none `250`",
    "test_full_disk_fails_the_message_for_retry_then_it_goes_through":
        "attachments disk full (ENOSPC): the stored message is marked `failed` for retry "
        "with an error log line carrying the errno; once space is back it becomes a case",
    "test_full_disk_under_serve_spools_then_answers_451_and_loses_no_250":
        "every file serve writes capped (RLIMIT_FSIZE) with the spool on: the database "
        "fills, the spool takes what fits (`250`), a message too big for both gets `451` "
        "and the log line `database and spool both failed (OSError)`; after a restart "
        "with space each `250` is stored exactly once",
    "test_sigkill_under_load_loses_no_250_and_sends_no_letter_twice":
        "SIGKILL of serve under load, restart: every `250` stored once and processed, no "
        "reference twice, no letter twice (one caught mid-transfer is flagged, not resent)",
    "test_sigkill_while_letters_go_out_sends_none_twice":
        "SIGKILL while a slow relay takes the letters, restart: the rest go once; the one "
        "in transfer is flagged for a person (it may have arrived), never resent",
    "test_two_processes_on_one_postgres_never_double_anything":
        "two serve processes on one PostgreSQL: each message processed once, no reference "
        "twice, every letter relayed exactly once",
}

NOTES = """Notes:

- **Spool:** opt-in (`INTAKE_SMTP_SPOOL`); with it off a database that cannot take a
  message gets `451` and the sender keeps it. Both ways are tested above.
- **Reminders:** "no reminder sent twice by several processes" is tested in
  `tests/slack/test_reminders.py` (four schedulers on one PostgreSQL, claims by unique
  `reminders_sent` keys).
- **After a crash** letters the dead process had claimed wait out the outbox lease (60 s)
  before the restarted process retries them; the SIGKILL test runs that clock forward in
  the database rather than waiting.
- **Disk full log line:** the pipeline logs `message N not processed: OSError (No space
  left on device)`, and the message's reason says the same.
- **Locked SQLite:** the store waits up to its 30 s busy timeout before `451`, so a sender
  holds its connection that long; PostgreSQL fails fast.
"""


def run_tests() -> list[tuple[str, str, float]]:
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "faults.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "tests/faults", f"--junitxml={junit}"], cwd=ROOT, check=False)
        tree = ET.parse(junit)
    rows = []
    for case in tree.iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = {"failure": "FAILED", "error": "ERROR", "skipped": "skipped"}[tag]
        rows.append((case.get("name", ""), outcome, float(case.get("time", 0))))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    rows = run_tests()
    lines = [stamp(command_line()), "",
             "Automated in `tests/faults/` (each under a minute; they run in CI with the rest "
             "of the suite). Each runs the real `intake-bot serve` process (or the real SMTP "
             "edge and pipeline) against real SMTP clients, a real capture relay and the "
             "database, and checks the outcome in the database itself.", "",
             "| test | what it shows | result | seconds |", "|---|---|---|---|"]
    for name, outcome, secs in rows:
        lines.append(f"| `{name}` | {SHOWS.get(name, '')} | {outcome} | {secs:.1f} |")
    body = "\n".join(lines) + "\n\n" + NOTES
    print(body)
    if not args.no_write:
        write_section("Faults", body)


if __name__ == "__main__":
    main()
