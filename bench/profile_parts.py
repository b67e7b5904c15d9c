"""The heaviest email steps' own functions, timed and profiled apart from the store.

Runs the benchmark corpus through the pipeline once (SQLite, one process), recording what
``render_letter`` was given, and makes each emailed letter's mail from its stored rows as
the outbox sender does; then replays the SMTP edge's ``external_id_of``, ``parse_email``,
the worker's prepare phase (parse and ``classify_many`` in the worker's batches),
``render_letter`` and ``build_message(...).as_bytes()`` on those inputs alone, several
rounds, and prints the median milliseconds per message and a cProfile summary of each.
The replay leaves out the database work around the functions (attachment rows, flushes,
idempotency lookups), so its figures are the part that making the functions cheaper can
save; ``profile_email.py`` times the whole steps.

    .venv/bin/python bench/profile_parts.py --messages 200 --rounds 5
    .venv/bin/python bench/profile_parts.py --only prepare --top 30
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import make_messages
from bench.serve_process import bench_store

Call = tuple[tuple[Any, ...], dict[str, Any]]


def capture(count: int) -> tuple[list[bytes], list[Call], list[Call]]:
    """Raw messages, the render_letter calls the pipeline made, and each letter's mail.

    The mail of every emailed letter is made from its stored rows, as the outbox sender
    builds it, so the figures do not depend on when the pipeline builds MIME.
    """
    from intake.pipeline import accept, process_message
    from intake.records import IntakeRecord
    from intake.steps import letter

    renders: list[Call] = []

    def spy(*args: Any, **kwargs: Any) -> Any:
        renders.append((args, kwargs))
        return real_render(*args, **kwargs)

    samples = make_messages(count, seed=42, tag=f"parts-{time.time_ns()}")
    real_render = letter.render_letter
    letter.render_letter = spy  # type: ignore[assignment]
    try:
        with bench_store("sqlite", "intake-parts-") as (store, settings, _folder):
            for sample in samples:
                record = IntakeRecord(channel="email", external_id=sample.message_id,
                                      received_at=datetime.now(UTC), raw=sample.raw,
                                      sender="sender@school.example",
                                      recipients=("enquiries@example.org",))
                process_message(store, accept(store, record), settings)
            builds = letter_mails(store, settings)
    finally:
        letter.render_letter = real_render
    return [s.raw for s in samples], renders, builds


def letter_mails(store: Any, settings: Any) -> list[Call]:
    """``build_message`` arguments for every queued email letter, from its rows."""
    from sqlalchemy import select

    from intake.cases.models import Letter
    from intake.email.mime import Outgoing, domain_of, new_message_id
    from intake.email.outbox import letter_subject

    calls: list[Call] = []
    with store.session() as session:
        for row in session.scalars(select(Letter).where(Letter.delivery == "email",
                                                        Letter.recipient.is_not(None))):
            mail = Outgoing(from_address=settings.letters_from, to=[row.recipient],
                            subject=letter_subject(row, row.case), text=row.body_text,
                            html=row.body_html or None,
                            message_id=row.message_id or new_message_id(
                                domain_of(settings.letters_from), row.case.reference),
                            in_reply_to=row.in_reply_to, references=[])
            calls.append(((mail,), {}))
    return calls


def replays(raws: list[bytes], renders: list[Call],
            builds: list[Call]) -> dict[str, Callable[[], None]]:
    from intake.classify import get_classifier
    from intake.email.mime import build_message
    from intake.email.parse import external_id_of, parse_email
    from intake.letters import render_letter
    from intake.pipeline import BATCH_SIZE
    from intake.steps.classify import classify_input
    from intake.steps.parse import parse_raw

    classifier = get_classifier()
    received = datetime.now(UTC)

    def edge() -> None:
        for raw in raws:
            external_id_of(raw)

    def parse() -> None:
        for raw in raws:
            parse_email(raw)

    def prepare() -> None:
        for start in range(0, len(raws), BATCH_SIZE):
            classifier.classify_many([classify_input(parse_raw("email", raw), "email", received)
                                      for raw in raws[start:start + BATCH_SIZE]])

    def render() -> None:
        for args, kwargs in renders:
            render_letter(*args, **kwargs)

    def build() -> None:
        for args, kwargs in builds:
            build_message(*args, **kwargs).as_bytes()

    return {"external_id_of (SMTP edge, before the 250)": edge, "parse_email": parse,
            "prepare phase (parse_raw, classify_many in batches)": prepare,
            "render_letter": render, "build_message + as_bytes": build}


def top(prof: cProfile.Profile, limit: int) -> list[str]:
    stats = pstats.Stats(prof, stream=io.StringIO())
    rows = []
    for (path, line, name), (_, calls, own, cum, _) in stats.stats.items():  # type: ignore[attr-defined]
        short = path.split("site-packages/", 1)[-1].split("lib/python3.11/", 1)[-1]
        rows.append((own, cum, calls, f"{short}:{line}({name})"))
    rows.sort(reverse=True)
    return [f"  {own:7.3f} {cum:7.3f} {calls:8d}  {where}"
            for own, cum, calls, where in rows[:limit]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--top", type=int, default=20, help="cProfile rows per function")
    parser.add_argument("--only", default="", help="replay only the parts whose name has this")
    args = parser.parse_args()
    raws, renders, builds = capture(args.messages)
    print(f"{len(raws)} messages, {len(renders)} letters rendered, {len(builds)} MIME builds")
    for name, run in replays(raws, renders, builds).items():
        if args.only not in name:
            continue
        run()  # warm-up
        times = []
        for _ in range(args.rounds):
            begin = time.perf_counter()
            run()
            times.append(time.perf_counter() - begin)
        per = statistics.median(times) / len(raws) * 1000
        print(f"\n{name}: {per:.2f} ms per message (median of {args.rounds} rounds; "
              f"min {min(times) / len(raws) * 1000:.2f})")
        if args.top:
            prof = cProfile.Profile()
            prof.runcall(run)
            print("  own s   cum s     calls  function")
            print("\n".join(top(prof, args.top)))


if __name__ == "__main__":
    main()
