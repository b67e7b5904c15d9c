"""Where the time goes in the full email path: per-step timings and a cProfile summary.

Runs in one process against a fresh SQLite (or PostgreSQL) database: ``accept()`` for each
message of the benchmark corpus, then ``process_message()`` with every pipeline step timed
on its own. Used by ``smtp_throughput.py`` for the docs, or alone:

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

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import make_messages
from bench.serve_process import bench_store

ROOT = Path(__file__).resolve().parents[1]


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


def profile(db: str, count: int) -> str:
    """Run the corpus through accept + every step; return a Markdown summary."""
    from intake.pipeline import accept, process_message
    from intake.records import IntakeRecord

    with bench_store(db, "intake-prof-") as (store, settings, _folder):
        samples = make_messages(count + 1, seed=42, tag=f"prof-{time.time_ns()}")

        def record(raw: bytes, mid: str) -> IntakeRecord:
            return IntakeRecord(channel="email", external_id=mid, received_at=datetime.now(UTC),
                                raw=raw, sender="sender@school.example",
                                recipients=("enquiries@example.org",))

        process_message(store, accept(store, record(samples[0].raw, samples[0].message_id)),
                        settings)  # warm-up: model and templates load once
        totals: dict[str, float] = defaultdict(float)
        begin = time.perf_counter()
        with timed_steps(totals):  # timings first, without the profiler's overhead
            for sample in samples[1:]:
                t0 = time.perf_counter()
                message_id = accept(store, record(sample.raw, sample.message_id))
                totals["accept (store raw, commit)"] += time.perf_counter() - t0
                t1 = time.perf_counter()
                process_message(store, message_id, settings)
                totals["process_message total"] += time.perf_counter() - t1
        wall = time.perf_counter() - begin
        prof = cProfile.Profile()
        for sample in make_messages(count // 2, seed=43, tag=f"prof2-{time.time_ns()}"):
            message_id = accept(store, record(sample.raw, sample.message_id))
            prof.enable()
            process_message(store, message_id, settings)
            prof.disable()
    return _markdown(db, count, totals, wall, prof)


def _markdown(db: str, count: int, totals: dict[str, float], wall: float,
              prof: cProfile.Profile) -> str:
    whole = totals["process_message total"]
    steps = [(k, v) for k, v in totals.items() if k != "process_message total"]
    lines = [f"Profile ({db}, {count} messages of the same mix, one process, no network): "
             f"{wall / count * 1000:.1f} ms per message end to end, "
             f"{count / wall:.1f} messages per second on one core.", "",
             "| step | ms per message | share of process_message |", "|---|---|---|"]
    for name, secs in steps:
        share = "" if name.startswith("accept") else f"{secs / whole * 100:.0f} %"
        lines.append(f"| {name} | {secs / count * 1000:.2f} | {share} |")
    known = sum(v for k, v in steps if not k.startswith("accept"))
    lines.append(f"| commit and claim (outside the steps) | {(whole - known) / count * 1000:.2f}"
                 f" | {(whole - known) / whole * 100:.0f} % |")
    lines += ["", f"Functions with the most own time in process_message ({count // 2} "
              "further messages under cProfile, which slows them about twofold):", "",
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
