"""Where ``intake-bot serve`` spends the GIL under SMTP load: a py-spy sample of the whole
service (every thread of the serve process and of its pipeline worker processes), grouped
by thread and by what it was doing.

py-spy is a development tool, not a project dependency (``pip install py-spy`` into the
virtualenv); without it this reports that it was skipped.

    .venv/bin/python bench/profile_serve.py --messages 300
"""

from __future__ import annotations

import argparse
import collections
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.corpus import make_messages
from bench.serve_process import CaptureRelay, Counter, ServeProcess, free_port, serve_env, wait_for

# Innermost-first is not needed: the first of these found on a stack names the activity.
ACTIVITIES = ("_flock", "_classify_all", "_prepare", "parse_message", "mark_duplicate",
              "screen_machines", "join_thread", "classify_message", "open_case",
              "write_deadlines", "prepare_letter", "queue_letters", "notify_staff", "_claim",
              "due_message_ids", "accept", "letter_raw", "_send_each", "_claim_due",
              "_settle_interrupted", "_mark_sent")
SHOWN = {"_flock": "waiting for the SQLite writer lock",
         "_prepare": "prepare: read and parse (no lock)",
         "_classify_all": "prepare: classify (no lock)",
         "letter_raw": "outbox: build the letter's MIME"}


def py_spy() -> str | None:
    here = Path(sys.executable).parent / "py-spy"
    return str(here) if here.exists() else shutil.which("py-spy")


def _activity(frames: list[str]) -> str:
    names = [f.split(" (")[0] for f in frames]
    for want in ACTIVITIES:
        if want in names:
            return SHOWN.get(want, want)
    if any("aiosmtpd" in f for f in frames):
        return "SMTP protocol (aiosmtpd)"
    if any("/logging/" in f for f in frames):
        return "logging"
    return "other"


def _thread(frames: list[str]) -> str:
    """``serve: <thread>``, or ``pipeline worker: <thread>`` for a child process."""
    processes = [f for f in frames if f.startswith("process ")]
    thread = next((f for f in frames if f.startswith("thread ")), frames[0])
    name = thread.split(":")[-1].strip().strip('"')
    return f"{'pipeline worker' if len(processes) > 1 else 'serve'}: {name}"


def summarise(raw: str) -> tuple[collections.Counter[str], collections.Counter[str]]:
    threads: collections.Counter[str] = collections.Counter()
    activities: collections.Counter[str] = collections.Counter()
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        threads[_thread(frames)] += int(count)
        activities[_activity(frames)] += int(count)
    return threads, activities


def gil_profile(count: int) -> str:
    """Markdown: GIL samples of a serve process draining ``count`` messages (SQLite)."""
    spy = py_spy()
    if spy is None:
        return "Whole-process profile skipped: py-spy is not installed."
    from bench.smtp_throughput import send

    with tempfile.TemporaryDirectory(prefix="intake-spy-") as tmp:
        workdir = Path(tmp)
        url = f"sqlite:///{workdir / 'intake.db'}"
        relay = CaptureRelay().start()
        serve = ServeProcess(serve_env(url, free_port(), relay.port, workdir), workdir).start()
        counter = Counter(url)
        try:
            send(serve.smtp_port, make_messages(1, seed=99, tag=f"spy-warm{time.time_ns()}"), 1)
            wait_for(lambda: counter.unfinished() == 0 and counter.messages() == 1, 120)
            out = workdir / "raw.txt"
            recorder = subprocess.Popen([spy, "record", "--format", "raw", "-o", str(out),
                                         "--threads", "--gil", "--subprocesses", "-r", "200",
                                         "-p",
                                         str(serve.pid)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
            time.sleep(1.0)
            begin = time.perf_counter()
            send(serve.smtp_port, make_messages(count, seed=5, tag=f"spy{time.time_ns()}"), 8)
            wait_for(lambda: counter.unfinished() == 0 and counter.messages() > count, 600,
                     0.05)
            took = time.perf_counter() - begin
            recorder.send_signal(signal.SIGINT)
            recorder.wait(60)
            raw = out.read_text() if out.exists() else ""
        finally:
            counter.dispose()
            serve.terminate()
            relay.stop()
    threads, activities = summarise(raw)
    total = sum(threads.values()) or 1
    lines = [f"Whole service under load (py-spy, `--gil --subprocesses`: samples of whichever "
             f"thread holds its process's GIL, 200 Hz, the serve process and its pipeline "
             f"worker process; SQLite; {count} messages from 8 clients, drained in "
             f"{took:.1f} s). Shares are of all samples; the two processes hold their own "
             "GILs at the same time.", "", "| process: thread | share |", "|---|---|"]
    lines += [f"| {name} | {n / total * 100:.0f} % |" for name, n in threads.most_common(6)]
    lines += ["", "| activity (all threads) | share |", "|---|---|"]
    lines += [f"| {name} | {n / total * 100:.1f} % |" for name, n in activities.most_common(16)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    print(gil_profile(args.messages))


if __name__ == "__main__":
    main()
