"""Classification speed on one core: messages per second, model load time, peak memory.

Run from the repository root: ``python bench/classify_bench.py [--messages N] [--write]``.
It pins itself to one CPU, loads the shipped model in a fresh interpreter (so the load
time includes importing spaCy), then classifies the labelled messages, repeated up to N,
twice: through ``nlp.pipe`` alone (the labels) and through ``classify_many`` (labels plus
every extracted field: dates, URNs, contacts). ``--write`` puts the figures in
docs/benchmarks.md under the "Classification" heading, leaving other sections alone.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from intake.classify import ClassifyInput

HEADING = "## Classification"
LOAD_SNIPPET = (
    "import time; t = time.perf_counter(); "
    "from nlp.classifier import load_classifier; c = load_classifier(); "
    "print(time.perf_counter() - t, type(c).__name__)"
)


def pin_one_core() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})


def load_seconds() -> tuple[float, str]:
    """Import and load time in a fresh interpreter, best of three."""
    best, kind = float("inf"), ""
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", LOAD_SNIPPET], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.split()
        best, kind = min(best, float(out[0])), out[1]
    return best, kind


def messages(count: int) -> list[ClassifyInput]:
    from nlp.dataset import DATA_DIR, load_eval, load_jsonl

    pool = load_eval() + [e for p in sorted((DATA_DIR / "source").glob("*.jsonl"))
                          for e in load_jsonl(p)]
    if not pool:
        raise SystemExit("no labelled messages to classify")
    items = [e.as_input() for e in pool]
    return (items * (count // len(items) + 1))[:count]


def rate(run: Callable[[list[ClassifyInput]], object], items: list[ClassifyInput]) -> float:
    started = time.perf_counter()
    run(items)
    return len(items) / (time.perf_counter() - started)


def heads_microseconds(classifier: Any, items: list[ClassifyInput]) -> float:
    """What the word-vector heads stage costs per message, timed alone on processed docs."""
    from nlp.assemble import full_text

    texts = [full_text(x) for x in items]
    with classifier.nlp.select_pipes(disable=["vector_heads"]):
        docs = list(classifier.docs(texts))
    heads = classifier.nlp.get_pipe("vector_heads")
    started = time.perf_counter()
    for _ in heads.pipe(iter(docs), batch_size=256):
        pass
    return (time.perf_counter() - started) / len(docs) * 1e6


def measure(count: int) -> dict[str, object]:
    pin_one_core()
    load, kind = load_seconds()
    from nlp.assemble import full_text
    from nlp.classifier import load_classifier

    classifier = load_classifier()
    items = messages(count)
    classifier.classify_many(items[:200])  # warm up
    chars = sum(len(i.text) for i in items) / len(items)
    figures: dict[str, object] = {"classifier": kind, "version": classifier.version,
                                  "load_s": load, "messages": len(items),
                                  "mean_chars": chars}
    if hasattr(classifier, "docs"):
        def pipe(xs: list[ClassifyInput]) -> int:
            return sum(1 for _ in classifier.docs([full_text(x) for x in xs]))

        figures["pipe_per_s"] = rate(pipe, items)
    figures["classify_per_s"] = rate(classifier.classify_many, items)
    figures["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if "vector_heads" in getattr(getattr(classifier, "nlp", None), "pipe_names", []):
        # Last: it holds every processed doc at once, which would inflate the peak.
        figures["heads_us"] = heads_microseconds(classifier, items)
    return figures


def markdown(f: dict[str, object]) -> str:
    today = datetime.now(UTC).date().isoformat()
    lines = [
        HEADING, "",
        f"`python bench/classify_bench.py --write`, {today}, one core of "
        f"{os.cpu_count()} ({platform.processor() or platform.machine()}), Python "
        f"{platform.python_version()}, model `{f['version']}` ({f['classifier']}).", "",
        "| figure | value |", "|---|---:|",
        f"| messages classified (labelled set repeated; mean {f['mean_chars']:.0f} chars) | "
        f"{f['messages']} |",
    ]
    if "pipe_per_s" in f:
        lines.append(f"| labels only, `nlp.pipe` (messages/s) | {f['pipe_per_s']:,.0f} |")
    if "heads_us" in f:
        lines.append(f"| of which the word-vector heads (µs per message) | "
                     f"{f['heads_us']:.0f} |")
    lines += [
        f"| labels and every extracted field, `classify_many` (messages/s) | "
        f"{f['classify_per_s']:,.0f} |",
        f"| model load, fresh interpreter incl. imports (s) | {f['load_s']:.2f} |",
        f"| peak resident memory (MB) | {f['peak_rss_mb']:.0f} |",
        "", "Targets (NLP issue): at least 2,000 messages/s on one core through `nlp.pipe`, "
        "load under 2 s.", "",
    ]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    """Replace the Classification section (up to the next ``## ``), or append it."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if HEADING in text:
        head, rest = text.split(HEADING, 1)
        after = rest.find("\n## ")
        tail = rest[after + 1:] if after >= 0 else ""
        text = head + section + ("\n" + tail if tail else "")
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = parser.parse_args()
    section = markdown(measure(args.messages))
    print(section)
    if args.write:
        write_section(ROOT / "docs" / "benchmarks.md", section)


if __name__ == "__main__":
    main()
