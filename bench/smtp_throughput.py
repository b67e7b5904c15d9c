"""SMTP throughput, side by side: a bare aiosmtpd server against ``intake-bot serve``.

The same message set (plain, HTML and attachments) is sent by N concurrent aiosmtplib
clients to (a) a server that discards mail and (b) the bot doing the full path (store,
parse, classify, case, deadlines, letter, outbox). The bot's rate counts until every
message has a final disposition, so work done after the ``250`` is paid for. Rounds
alternate a, b, a, b ... and the figures quoted are medians. Zero loss is checked by
matching every Message-ID that got a ``250`` against the stored rows.

    .venv/bin/python bench/smtp_throughput.py --db sqlite --rounds 5
    .venv/bin/python bench/smtp_throughput.py --db both --rounds 5 --messages 200
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiosmtplib

from bench.corpus import Sample, make_messages
from bench.profile_email import profile
from bench.profile_serve import gil_profile
from bench.report import command_line, median, percentile, stamp, write_section
from bench.serve_process import (
    ROOT,
    CaptureRelay,
    Counter,
    ServeProcess,
    free_port,
    listening,
    pg_database,
    serve_env,
    wait_for,
)

MAILBOX = "enquiries@example.org"
NOTES = """### Reading the figures

- **The bot's rate is the pipeline's rate.** The SMTP edge answers far faster (the `250s/s`
  column). `serve` runs the pipeline in one worker process by default
  (`INTAKE_PIPELINE_PROCESSES=1`), beside the SMTP edge and the outbox in the main
  process. The worker takes due messages in batches of 8 and classifies a batch in one
  `classify_many` call. On SQLite it reads, parses and classifies *without* the write
  lock, then claims the batch and writes all its cases, deadlines, letters and outbox rows
  in one short transaction; on PostgreSQL it claims first (`FOR UPDATE SKIP LOCKED`, which
  locks only those rows) and prepares and writes in the same transaction. In
  the whole-service profile the worker process is busy most of the time; the serve process
  (SMTP protocol, the commit before each `250`, the outbox) much less.
- **Where the time goes** (one-core profile below, about 5 ms of CPU per message in the
  pipeline): the prepare phase (parsing with the stdlib `email` package, then the
  classifier; about two fifths), the letter (Jinja text and HTML; about a fifth), the
  batch's one flush of every new row and its commit, and opening the case. About 3 SQL
  statements per message on SQLite: per batch of 8, one query each for the batch's
  duplicates, links and reply counts, one `executemany` INSERT per table (messages'
  cases, complainants, letters, labels, deadlines, links, alerts, audit entries, outbox
  rows), the reply-log upsert, one read of the letters switch and the case counter.
- **DATA→250 on SQLite** is the wait for the single writer: `accept()` and the worker's
  batch transaction take turns through a lock file beside the database, so a waiting
  `accept()` is woken when the batch commits (SQLite's own busy handler polled in sleeps
  of up to 100 ms, which made the p50 180 ms). PostgreSQL has row locks, and its case
  numbers are taken in a short transaction of their own, once per batch (the first case
  takes numbers for every message left in it), so a batch does not hold the counter row
  until it commits, and a worker claims its batch before preparing it, so two
  serve processes (row (c)) work side by side on different messages.
- Step by step on 2026-11-22, on this machine while other jobs used about one of its two
  cores (ratios (b)/(a) from `--rounds 3` or `--rounds 2` runs; read them as trends):
  before, SQLite 0.058 and PostgreSQL 0.043; prepare before the lock, batches of 8 and
  the in-process writer hand-over: SQLite 0.077, PostgreSQL 0.051 (but (c) fell to 0.042
  while batches held the counter row); with the letter's MIME built by the outbox and the
  counter in its own transaction: (c) 0.078; pipeline thread against one or two worker
  processes, alternating: SQLite 0.098 / 0.103 (thread), 0.082 / 0.110 (one process),
  0.074 / 0.092 (two); PostgreSQL 0.057 / 0.057, 0.056 / 0.059, 0.060 / 0.051. One
  process was as fast as the thread and halved SQLite's DATA→250 p50 (about 80 ms to
  about 37 ms), so it became the default; two gain nothing on two busy cores. Then on
  PostgreSQL a batch is claimed (`SKIP LOCKED`) before it is prepared, so two workers no
  longer parse and classify the same messages: (b) 0.068, (c) 0.071, where (c) had been
  0.042 with the default of one worker process per serve.
- Third round, later that evening (alternating with the code before it,
  `bench/profile_email.py`): the parser fed whole and its line buffer a generator, MIME
  headers parsed once per value, the SMTP edge's Message-ID read from the header block
  only, the reply parser's and extractors' patterns compiled once and run on the
  sentences where a whole-text match begins (parse + classify 2.0 → 1.6 ms); the steps run
  without autoflush so a batch's cases, complainants, letters and alerts go in with one
  flush, on SQLite with ids taken under the writer lock so each table is one
  `executemany` (SQLite gives no order for a multi-row `RETURNING`, so SQLAlchemy sent a
  statement per row); the duplicate check, the links and the reply log once per batch;
  the letter facts' template values built once. SQLite 7.0 → about 5.2 ms of CPU per
  message and 10.5 → 2.8 statements; PostgreSQL 7.9 → about 4.9 ms and 10.2 → 2.4.
  Tried and dropped: ending the batch's transaction early when an accept waits for the
  lock (DATA→250 p50 26.6 against 29.2 ms over four paired runs: noise), batches of 4
  (114 against 150 msg/s), two pipeline processes (SQLite 77 against 105-150 msg/s,
  PostgreSQL 72.6 against 81.6), Python copies of the letter macros (0.04 ms a letter).
- Second round, the same evening, each change measured with `bench/profile_email.py`
  (CPU of the profiling process and statements per message, alternating with a copy of
  the code before the round):
  labels, deadlines, proposed links and audit rows collected per write transaction and
  inserted with one multi-row INSERT per table; on SQLite the case counter bumped once
  and written once per transaction (numbers stay gap-free, as they commit or roll back
  with the counter); the letters switch read once; a letter inserted by the transaction
  queued without the outbox lookup and savepoint, with the Message-ID it was inserted
  with; the deadline summary and the
  message's processed time written with their rows' first INSERT or UPDATE; the claim
  loading the batch's attachment rows in one query and leaving out raw bytes already
  parsed: 30.2 → 11.3 statements per message on SQLite, and 10.5 once the new letters'
  outbox rows went in with the batch too. Then on PostgreSQL the first
  case of a batch takes case numbers for the rest of it (one short transaction per batch
  instead of per case). `accept()` stores with one precompiled Core `INSERT … RETURNING`
  (an ORM INSERT through the session was slower still): 0.35 → 0.23 ms of CPU per
  message on SQLite, 0.45 → 0.33 ms on PostgreSQL (300 stores of 38 KB). Altogether,
  alternating twice: SQLite 9.7-11.2 → 7.7-8.1 ms of CPU per message, 30.2 → 10.5
  statements; PostgreSQL 11.7-12.8 → 6.4-7.6 ms, 25.7 → 10.2 statements (wall 13.9-14.7 →
  7.3-9.0 ms). Throughput (`--rounds 3`, old code / new code / new code again, one run
  after the other): SQLite 0.103 / 0.134 / 0.131; PostgreSQL (b) 0.056 / 0.106 / 0.074,
  (c) 0.071 / 0.070 / 0.065. Two pipeline worker processes on PostgreSQL against one,
  one run after the other: 0.087 / 0.094, so one stays the default.

### What would raise the ratio (largest first)

1. Cores. The pipeline worker is the bottleneck: one process at about 5 ms of CPU per
   message can drain at most about 200 messages a second with a core to itself, and here
   it shares two cores with the SMTP edge and the benchmark's own clients (the bare
   server's 800 a second already keep both busy). On PostgreSQL more worker (or serve)
   processes scale with free cores; on SQLite the prepare phase runs in parallel and
   the writes take turns. Two workers on this two-core machine were slower, not faster.
2. Render the letter before the write transaction (about a fifth of the worker's CPU is
   the letter). Its inputs are known before the write except the case reference and the
   hold decision (the letters switch and the sender's reply count), which would be read
   before and checked again inside the transaction. On its own this shortens the SQLite
   write lock (the DATA→250 wait) rather than the CPU per message; with a second core
   free it would let rendering run beside the writes.
3. A cheaper classifier pass: the extractors and rules (dates, URNs, names, safeguarding)
   cost about as much as the spaCy pipeline itself (`bench/classify_bench.py`: 1,600
   messages a second with every field, 4,000 for the labels alone).
4. Group commit of queued accepts in the SMTP edge, and more accept threads: the edge's
   `accept()` is 1.3 ms at the median, but its p95 waits 39 ms for a batch's commit, and
   4 accept threads serve 8 clients, so DATA→250 queues behind those stalls.
5. Triage posts built once per batch: with Slack configured, the notify step writes the
   batch's pending rows for each message so its post can show them (the benchmark runs
   without Slack); building every post after the batch's single write would keep the
   batching gain.

The 0.5 target asks the full path to run at half the bare rate: with the bare server at
600-900 messages per second here, that is 2-3 ms of CPU per message for everything on
two cores, against about 5 ms for the pipeline alone plus the SMTP edge and the outbox.
Items 2-5 each take a share off, not a factor of two; on this machine the target is out
of reach for the full path in Python. What it buys instead is headroom: the edge answers
`250` within milliseconds and keeps doing so while the backlog drains.
"""
DRAIN_TIMEOUT = 600.0
PROFILE = True  # --no-profile: throughput rounds only
PIPELINE_ENV: dict[str, str] = {}  # --pipeline-processes: INTAKE_PIPELINE_PROCESSES


@dataclass
class Sent:
    accepted: list[str] = field(default_factory=list)  # Message-IDs answered 250
    refused: dict[int, int] = field(default_factory=dict)  # reply code -> count
    latencies: list[float] = field(default_factory=list)  # DATA to 250, seconds
    started: float = 0.0
    last_reply: float = 0.0


@dataclass
class Round:
    server: str  # "bare" or "bot"
    db: str
    sent: Sent
    finished: float  # last 250 (bare) or backlog drained (bot)
    letters_done: float | None = None
    stored: int | None = None
    lost: int | None = None
    letters: int | None = None

    @property
    def rate(self) -> float:
        return len(self.sent.accepted) / max(1e-9, self.finished - self.sent.started)


async def _client(port: int, queue: asyncio.Queue[Sample], sent: Sent) -> None:
    smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=120)
    await smtp.connect()
    try:
        while True:
            try:
                sample = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await smtp.mail("sender@school.example")
            await smtp.rcpt(MAILBOX)
            begin = time.perf_counter()
            try:
                await smtp.data(sample.raw)
            except aiosmtplib.SMTPResponseException as exc:
                sent.refused[exc.code] = sent.refused.get(exc.code, 0) + 1
                await smtp.rset()
                continue
            now = time.perf_counter()
            sent.latencies.append(now - begin)
            sent.accepted.append(sample.message_id)
            sent.last_reply = max(sent.last_reply, now)
    finally:
        try:
            await smtp.quit()
        except aiosmtplib.SMTPException:
            smtp.close()


async def _send_all(ports: list[int], samples: list[Sample], clients: int) -> Sent:
    queue: asyncio.Queue[Sample] = asyncio.Queue()
    for sample in samples:
        queue.put_nowait(sample)
    sent = Sent(started=time.perf_counter())
    await asyncio.gather(*(_client(ports[i % len(ports)], queue, sent)
                           for i in range(clients)))
    return sent


def send(port: int | list[int], samples: list[Sample], clients: int) -> Sent:
    """Clients spread over the given ports (several serve processes share the load)."""
    return asyncio.run(_send_all(port if isinstance(port, list) else [port], samples,
                                 clients))


def bare_round(samples: list[Sample], clients: int, warm: Sample) -> Round:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "bench.bare_smtp", "--port", str(port)],
                            cwd=ROOT, stdout=subprocess.DEVNULL)
    try:
        if not wait_for(lambda: listening(port), 30):
            raise RuntimeError("bare server did not start")
        send(port, [warm], 1)
        sent = send(port, samples, clients)
        return Round("bare", "-", sent, sent.last_reply)
    finally:
        proc.terminate()
        proc.wait(10)


def bot_round(db: str, samples: list[Sample], clients: int, warm: Sample,
              workdir: Path, processes: int = 1) -> Round:
    """``processes`` whole serve processes; PIPELINE_PROCESSES (when set) overrides each
    one's pipeline worker arrangement."""
    with ExitStack() as stack:
        if db == "postgres":
            url = stack.enter_context(pg_database())
        else:
            url = f"sqlite:///{workdir / 'intake.db'}"
        relay = CaptureRelay().start()
        stack.callback(relay.stop)
        serves = []
        for n in range(processes):  # the first creates the schema; the others share it
            env = serve_env(url, free_port(), relay.port, workdir, **PIPELINE_ENV)
            serves.append(ServeProcess(env, workdir, f"serve{n}").start())
            stack.callback(serves[-1].terminate)
        counter = Counter(url)
        stack.callback(counter.dispose)
        for n, serve in enumerate(serves):  # each loads its classifier and templates
            one = replace(warm, message_id=f"{n}.{warm.message_id}",
                          raw=warm.raw.replace(b"<" + warm.message_id.encode(),
                                               f"<{n}.{warm.message_id}".encode()))
            send(serve.smtp_port, [one], 1)
            if not wait_for(lambda k=n: counter.messages() == k + 1
                            and counter.unfinished() == 0, 120):
                raise RuntimeError("warm-up message was not processed: " + serve.log()[-800:])
        sent = send([s.smtp_port for s in serves], samples, clients)
        expected = len(sent.accepted) + processes
        wait_for(lambda: counter.messages() >= expected and counter.unfinished() == 0,
                 DRAIN_TIMEOUT, interval=0.05)
        drained = time.perf_counter()
        letters_ok = wait_for(lambda: counter.outbox_waiting() == 0, DRAIN_TIMEOUT, 0.05)
        letters_done = time.perf_counter() if letters_ok else None
        stored = {r[0] for r in counter.rows("SELECT external_id FROM messages")}
        lost = len(set(sent.accepted) - stored)
        return Round("bot", db, sent, drained, letters_done, len(stored) - processes, lost,
                     relay.count() - processes)  # less the warm-up messages' letters


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def summarise(db: str, bare: list[Round], bots: dict[str, list[Round]]) -> list[str]:
    a = median([r.rate for r in bare])
    rows = []
    for name, rounds in (("(a) bare aiosmtpd, discard", bare), *bots.items()):
        lat = [x for r in rounds for x in r.sent.latencies]
        rows.append(f"| {db} | {name} | {median([r.rate for r in rounds]):.1f} | "
                    f"{' / '.join(f'{r.rate:.1f}' for r in rounds)} | {_ms(percentile(lat, 50))}"
                    f" | {_ms(percentile(lat, 95))} | {_ms(percentile(lat, 99))} |")
    for name, rounds in bots.items():
        b = median([r.rate for r in rounds])
        rows.append(f"| {db} | ratio {name.split()[0]} / (a) | {b / a if a else 0:.3f} "
                    "| | | | |")
    return rows


def loss_lines(db: str, bot: list[Round], label: str = "") -> list[str]:
    out = []
    for i, r in enumerate(bot, 1):
        accept_rate = len(r.sent.accepted) / max(1e-9, r.sent.last_reply - r.sent.started)
        letters = (f"{r.letters_done - r.sent.started:.1f} s"
                   if r.letters_done is not None else "not drained")
        out.append(f"| {db}{label} | {i} | {len(r.sent.accepted)} | {r.stored} | {r.lost} | "
                   f"{r.sent.refused or '-'} | {accept_rate:.1f} | "
                   f"{r.finished - r.sent.started:.1f} s | {r.letters} | {letters} |")
    return out


def run(dbs: list[str], rounds: int, count: int, clients: int, pg_processes: int) -> str:
    table = ["| database | server | msg/s (median) | per round | DATA→250 p50 ms | p95 ms | "
             "p99 ms |", "|---|---|---|---|---|---|---|"]
    losses = ["| database | round | 250s | stored | lost | refused | 250s/s | drained after "
              "| letters relayed | outbox empty after |", "|---" * 10 + "|"]
    samples_size = 0
    profiles: list[str] = []
    for db in dbs:
        bare, bot, many = [], [], []
        many_name = f"(c) {pg_processes} serve processes on one PostgreSQL, full path"
        for n in range(rounds):
            samples = make_messages(count, seed=n, tag=f"r{n}-{time.time_ns()}")
            warm = make_messages(1, seed=99, tag=f"warm{n}-{time.time_ns()}")[0]
            samples_size = sum(len(s.raw) for s in samples)
            bare.append(bare_round(samples, clients, warm))
            with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
                bot.append(bot_round(db, samples, clients, warm, Path(tmp)))
            print(f"{db} round {n + 1}: bare {bare[-1].rate:.1f} msg/s, bot "
                  f"{bot[-1].rate:.1f} msg/s, lost {bot[-1].lost}", flush=True)
            if db == "postgres" and pg_processes > 1:
                samples = make_messages(count, seed=n, tag=f"c{n}-{time.time_ns()}")
                with tempfile.TemporaryDirectory(prefix="intake-bench-") as tmp:
                    many.append(bot_round(db, samples, clients, warm, Path(tmp),
                                          pg_processes))
                print(f"{db} round {n + 1}: {pg_processes} processes {many[-1].rate:.1f} "
                      f"msg/s, lost {many[-1].lost}", flush=True)
        bots = {"(b) intake-bot serve, full path": bot}
        if many:
            bots[many_name] = many
        table += summarise(db, bare, bots)
        losses += loss_lines(db, bot)
        if many:
            losses += loss_lines(db, many, f" ×{pg_processes}")
        if PROFILE:
            profiles += ["", f"### Where the time goes ({db})", "",
                         profile(db, min(count, 200))]
    if PROFILE:
        profiles += ["", "### The whole service under load", "",
                     gil_profile(min(count, 300)), "",
                     "`pipeline worker: MainThread` is the pipeline's worker process; in the "
                     "serve process `smtp-intake` is the SMTP event loop, `smtp-store_N` the "
                     "threads that commit each raw message before its `250`, and "
                     "`asyncio_N` the default executor, where the outbox's database calls "
                     "and its MIME building run."]
    kinds = "55 % plain text, 30 % HTML (multipart/alternative), 15 % with a PDF or JPEG"
    return "\n".join([
        stamp(command_line()), "",
        f"{count} messages per round ({samples_size / count / 1024:.0f} KiB on average: "
        f"{kinds}), {clients} concurrent aiosmtplib clients, each on one connection. "
        f"{rounds} rounds per database, alternating (a), (b) and on PostgreSQL (c); medians "
        "quoted. The bot's "
        "rate counts from the first MAIL until every message has a final disposition "
        "(store, parse, screen, classify, case, deadlines, letter, outbox row); letters "
        "are then relayed to a capture SMTP server in the benchmark process.", "",
        *table, "", "Zero loss: every Message-ID answered `250` is matched against the "
        "stored rows.", "", *losses, *profiles, "", NOTES,
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--pg-processes", type=int, default=2,
                        help="also run this many serve processes on one PostgreSQL (c)")
    parser.add_argument("--pipeline-processes", type=int, default=None,
                        help="run each serve's pipeline in this many worker processes "
                        "(default: serve's own default)")
    parser.add_argument("--no-profile", action="store_true",
                        help="skip the in-process and py-spy profiles")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    global PROFILE
    PROFILE = not args.no_profile
    if args.pipeline_processes is not None:
        PIPELINE_ENV["INTAKE_PIPELINE_PROCESSES"] = str(args.pipeline_processes)
    dbs = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    body = run(dbs, args.rounds, args.messages, args.clients, args.pg_processes)
    print(body)
    if not args.no_write:
        write_section("SMTP throughput", body)


if __name__ == "__main__":
    main()
