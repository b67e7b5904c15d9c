"""Where the time goes in the full email path: per-step timings and a cProfile summary.

Runs in one process against a fresh SQLite (or PostgreSQL) database: ``accept()`` for each
message of the benchmark corpus, then the worker's batches (``process_batch``), with the
read-only prepare phase and every pipeline step timed on its own, and the SQL statements
counted. Used by ``smtp_throughput.py`` for the docs, or alone:

    .venv/bin/python bench/profile_email.py --messages 200
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import make_messages
from bench.serve_process import bench_store

ROOT = Path(__file__).resolve().parents[1]
PREPARE = "prepare: read, parse, classify (no write lock)"
PREPARE_CLAIMED = "prepare: parse, classify (after the claim, in the transaction)"
TOTAL = "processing total"
CPU = "processing CPU"  # this process only: steadier than wall time on a shared machine
BATCH_FLUSH = "batch flush: rows, links, reply log (after the steps)"


@contextmanager
def timed_steps(totals: dict[str, float]) -> Iterator[None]:
    """Wrap each pipeline step so its wall time adds to ``totals``."""
    from intake import pipeline

    original = pipeline.STEPS

    def wrap(step: Callable[..., None]) -> Callable[..., None]:
        def run(ctx: object) -> None:
            begin = time.perf_counter()
            try:
                step(ctx)
            finally:
                totals[step.__name__] += time.perf_counter() - begin
        run.__name__ = step.__name__
        return run

    pipeline.STEPS = tuple(wrap(s) for s in original)
    try:
        yield
    finally:
        pipeline.STEPS = original


def _top(profile: cProfile.Profile, limit: int) -> list[tuple[str, float, float]]:
    stats = pstats.Stats(profile, stream=io.StringIO())
    rows = []
    for (path, line, name), (_, _, tottime, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
        short = path.replace(str(ROOT) + os.sep, "")
        if "site-packages" in short:
            short = short.split("site-packages" + os.sep, 1)[1]
        elif "lib/python" in short:
            short = "stdlib/" + short.rsplit("/", 1)[-1]
        rows.append((f"{short}:{line}({name})", tottime, cumtime))
    rows.sort(key=lambda r: r[1], reverse=True)
    return rows[:limit]


@contextmanager
def timed_prepare(totals: dict[str, float]) -> Iterator[None]:
    """Time the pipeline's prepare phase (parse and classify): on SQLite before any write
    lock (``_prepare``); on PostgreSQL after the batch is claimed, in its transaction
    (``_prepare_rows`` called by the claim)."""
    from intake import pipeline

    original, rows = pipeline._prepare, pipeline._prepare_rows
    inside = [False]  # in _prepare, which reads the rows and then calls _prepare_rows

    def run(store: object, ids: list[int]) -> object:
        begin = time.perf_counter()
        inside[0] = True
        try:
            return original(store, ids)  # type: ignore[arg-type]
        finally:
            inside[0] = False
            totals[PREPARE] += time.perf_counter() - begin

    def run_rows(claimed: object) -> object:
        if inside[0]:
            return rows(claimed)  # type: ignore[arg-type]
        begin = time.perf_counter()
        try:
            return rows(claimed)  # type: ignore[arg-type]
        finally:
            totals[PREPARE_CLAIMED] += time.perf_counter() - begin

    pipeline._prepare, pipeline._prepare_rows = run, run_rows  # type: ignore[assignment]
    try:
        yield
    finally:
        pipeline._prepare, pipeline._prepare_rows = original, rows  # type: ignore[assignment]


@contextmanager
def timed_batch_writes(totals: dict[str, float]) -> Iterator[None]:
    """Time the write transaction's batch flush (``Batch.flush``: the unit of work's one
    flush, the proposed links, the multi-row INSERTs, the reply log), which runs after the
    steps and before the commit. (With Slack configured, the notify step flushes the batch
    too, and that time counts in both rows; the benchmark runs without Slack.)"""
    from intake.steps.context import Batch

    original = Batch.flush

    def run(self: Batch, session: Any) -> None:
        begin = time.perf_counter()
        try:
            original(self, session)
        finally:
            totals[BATCH_FLUSH] += time.perf_counter() - begin

    Batch.flush = run  # type: ignore[method-assign]
    try:
        yield
    finally:
        Batch.flush = original  # type: ignore[method-assign]


@contextmanager
def counted_statements(engine: Any, counts: dict[str, int]) -> Iterator[None]:
    """Count the SQL statements sent, by their first word."""
    from sqlalchemy import event

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        counts[statement.split(None, 1)[0].upper()] += 1

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", count)


def _accept_all(store: Any, samples: list[Any], totals: dict[str, float]) -> list[int]:
    from intake.pipeline import accept
    from intake.records import IntakeRecord

    ids = []
    for sample in samples:
        t0 = time.perf_counter()
        ids.append(accept(store, IntakeRecord(
            channel="email", external_id=sample.message_id, received_at=datetime.now(UTC),
            raw=sample.raw, sender="sender@school.example",
            recipients=("enquiries@example.org",))))
        totals["accept (store raw, commit)"] += time.perf_counter() - t0
    return ids


def _process_all(store: Any, ids: list[int], settings: Any,
                 totals: dict[str, float]) -> None:
    """As the worker does: batches of BATCH_SIZE, oldest first."""
    from intake.pipeline import BATCH_SIZE, process_batch

    for start in range(0, len(ids), BATCH_SIZE):
        t0 = time.perf_counter()
        process_batch(store, ids[start:start + BATCH_SIZE], settings)
        totals[TOTAL] += time.perf_counter() - t0


def profile(db: str, count: int) -> str:
    """Run the corpus through accept, then the worker's batches; a Markdown summary."""
    from intake.pipeline import BATCH_SIZE

    with bench_store(db, "intake-prof-") as (store, settings, _folder):
        samples = make_messages(count + 1, seed=42, tag=f"prof-{time.time_ns()}")
        scratch: dict[str, float] = defaultdict(float)
        # warm-up: model and templates load once
        _process_all(store, _accept_all(store, samples[:1], scratch), settings, scratch)
        totals: dict[str, float] = defaultdict(float)
        statements: dict[str, int] = defaultdict(int)
        begin = time.perf_counter()
        with timed_steps(totals), timed_prepare(totals), timed_batch_writes(totals):
            ids = _accept_all(store, samples[1:], totals)
            cpu = time.process_time()
            with counted_statements(store.engine, statements):
                _process_all(store, ids, settings, totals)
            totals[CPU] = time.process_time() - cpu
        wall = time.perf_counter() - begin
        prof = cProfile.Profile()
        more = make_messages(count // 2, seed=43, tag=f"prof2-{time.time_ns()}")
        ids = _accept_all(store, more, scratch)
        for start in range(0, len(ids), BATCH_SIZE):
            prof.enable()
            _process_all(store, ids[start:start + BATCH_SIZE], settings, scratch)
            prof.disable()
    return _markdown(db, count, totals, wall, prof, statements, BATCH_SIZE)


def _markdown(db: str, count: int, totals: dict[str, float], wall: float,
              prof: cProfile.Profile, statements: dict[str, int], batch: int) -> str:
    whole = totals[TOTAL]
    steps = [(k, v) for k, v in totals.items() if k not in (TOTAL, CPU)]
    per_kind = ", ".join(f"{n / count:.1f} {kind}" for kind, n in
                         sorted(statements.items(), key=lambda kv: -kv[1]))
    lines = [f"Profile ({db}, {count} messages of the same mix, one process, no network, "
             f"batches of {batch} as the worker takes them): "
             f"{wall / count * 1000:.1f} ms per message end to end, "
             f"{count / wall:.1f} messages per second on one core; "
             f"processing {whole / count * 1000:.1f} ms per message, of which "
             f"{totals[CPU] / count * 1000:.1f} ms of this process's CPU; "
             f"{sum(statements.values()) / count:.1f} SQL statements per message after the "
             f"accept ({per_kind}).", "",
             "| phase or step | ms per message | share of processing |", "|---|---|---|"]
    for name, secs in steps:
        share = "" if name.startswith("accept") else f"{secs / whole * 100:.0f} %"
        lines.append(f"| {name} | {secs / count * 1000:.2f} | {share} |")
    known = sum(v for k, v in steps if not k.startswith("accept"))
    lines.append(f"| claim, commit, bookkeeping (outside the steps) | "
                 f"{(whole - known) / count * 1000:.2f} | {(whole - known) / whole * 100:.0f} % |")
    lines += ["", f"Functions with the most own time in processing ({count // 2} further "
              "messages under cProfile, which slows them about twofold):", "",
              "| function | own s | cumulative s |", "|---|---|---|"]
    lines += [f"| `{name}` | {tot:.3f} | {cum:.3f} |" for name, tot, cum in _top(prof, 15)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    print(profile(args.db, args.messages))


if __name__ == "__main__":
    main()
