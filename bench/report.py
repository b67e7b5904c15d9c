"""Writes one benchmark's section of docs/benchmarks.md, leaving the other sections alone.

Each section starts at a ``## <title>`` line and runs to the next ``## `` line. Several
people own sections of the same file, so a run replaces exactly its own section and keeps
the others byte for byte.
"""

from __future__ import annotations

import os
import platform
import statistics
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
ORDER = ("SMTP throughput", "Classification", "Slack", "Growth", "Faults")
HEADER = ("# Benchmarks\n\nFigures from the scripts in `bench/` (one command each, loopback "
          "only). Each section says the machine, the command and the date of its latest "
          "run. Timed assertions do not live in the tests; these figures do.\n")


def machine() -> str:
    """A one-line description of where the figures were measured."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def stamp(command: str) -> str:
    """The machine, the command and the date, as the first lines of a section."""
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return f"Machine: {machine()}.  \nCommand: `{command}`  \nDate: {when}.\n"


def command_line() -> str:
    """How this script was run, as a reader would type it."""
    script = Path(sys.argv[0]).resolve()
    try:
        shown = script.relative_to(ROOT)
    except ValueError:
        shown = Path(script.name)
    return " ".join([".venv/bin/python", str(shown), *sys.argv[1:]])


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


def median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def _split(text: str) -> tuple[str, dict[str, str]]:
    head, sections, current = [], {}, None
    for line in text.splitlines(keepends=True):
        if line.startswith("## "):
            current = line[3:].strip()
            sections[current] = line
        elif current is None:
            head.append(line)
        else:
            sections[current] += line
    return "".join(head), sections


def write_section(title: str, body: str, doc: Path = DOC) -> None:
    """Replace (or add, in the usual order) the section called ``title``."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else HEADER
    head, sections = _split(text)
    sections[title] = f"## {title}\n\n{body.strip()}\n\n"
    known = [t for t in ORDER if t in sections]
    others = [t for t in sections if t not in ORDER]
    doc.parent.mkdir(parents=True, exist_ok=True)
    out = head.rstrip("\n") + "\n\n" + "".join(sections[t] for t in known + others)
    doc.write_text(out.rstrip("\n") + "\n", encoding="utf-8")
