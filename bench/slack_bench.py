"""Slack: requests per second and ack latency through the real HTTP app.

``intake-bot serve`` runs in Slack HTTP mode as a child process, its Web API pointed at a
local fake Slack in this process. Correctly signed requests (v0 signatures, fresh
timestamps) go to ``/slack/events`` from concurrent clients, as Slack sends them:

- a slash command: ``/complaints due`` by a member of staff (answered in the ack, from
  the database);
- a block action: "Confirm labels" on a triage post (acked, then the case is updated);
- a view submission: the phone complaint modal (the call is stored before the ack; the
  case is made after it).

Rounds cycle through the three kinds and the figures quoted are medians.

    .venv/bin/python bench/slack_bench.py --rounds 3 --requests 200
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import aiohttp

from bench.report import command_line, median, percentile, stamp, write_section
from bench.serve_process import (
    CaptureRelay,
    Counter,
    ServeProcess,
    free_port,
    listening,
    serve_env,
    wait_for,
)
from tests.slack.fake_slack import BOT_TOKEN, TEAM_ID, FakeSlack

SECRET = "bench-signing-secret-0123456789abcdef"
STAFF = "U0STAFF"
TRIAGE = "C0TRIAGE"

NOTES = """Reading the figures:

- Block actions and view submissions ack first and do the work afterwards (the phone
  call is stored before the ack, the case made after it), so their ack latency stays in
  tens of milliseconds whatever the load.
- `/complaints due` answers within a 1.5-second budget: when the list is ready in time
  it comes in the ack; when the database is slow (a busy pipeline, a large case table)
  the ack says "Looking that up…" at once and the list follows by `chat.postEphemeral`.
  The lists are single SQL statements with the limit in SQL (see Growth).
- Malformed phone-modal values (a `datetimepicker` outside Python's date range, a state
  element that is not an object), first found by fuzzing, are inline field errors
  (`tests/slack/test_phone_modal_malformed.py`).
"""


def signed(body: str, content_type: str) -> dict[str, str]:
    ts = str(int(time.time()))
    base = f"v0:{ts}:{body}".encode()
    sig = "v0=" + hmac.new(SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": sig}


def command_body(_n: int, _refs: list[str]) -> str:
    return urlencode({"token": "legacy", "team_id": TEAM_ID, "channel_id": "C0OPS",
                      "user_id": STAFF, "command": "/complaints", "text": "due",
                      "response_url": "http://127.0.0.1:9/unused",
                      "trigger_id": f"trig.{uuid.uuid4().hex[:8]}", "api_app_id": "A0APP"})


def _interactive(payload: dict[str, Any]) -> str:
    payload = {"team": {"id": TEAM_ID}, "api_app_id": "A0APP", "token": "legacy", **payload}
    return urlencode({"payload": json.dumps(payload)})


def action_body(n: int, refs: list[str]) -> str:
    ts = "1700000001.000100"
    return _interactive({
        "type": "block_actions", "user": {"id": STAFF}, "channel": {"id": TRIAGE},
        "container": {"type": "message", "message_ts": ts}, "message": {"ts": ts, "text": ""},
        "trigger_id": f"trig.{uuid.uuid4().hex[:8]}", "response_url": "http://127.0.0.1:9/u",
        "actions": [{"action_id": "case_confirm_labels", "block_id": "b1",
                     "value": refs[n % len(refs)], "type": "button",
                     "action_ts": str(time.time())}]})


def _text(value: str) -> dict[str, Any]:
    return {"value": {"type": "plain_text_input", "value": value}}


def view_body(n: int, _refs: list[str]) -> str:
    called = datetime.now(UTC) - timedelta(minutes=1)
    values: dict[str, Any] = {
        "caller_name": _text(f"Sam Jones {n}"), "provider": _text("Oakfield Primary School"),
        "urn": _text(str(100000 + n)),
        "what_happened": _text("The inspector was rude to the headteacher and ignored the "
                               "evidence we gave about our phonics teaching last week."),
        "email": {"value": {"type": "email_text_input", "value": f"caller{n}@example.org"}},
        "email_consent": {"value": {"type": "checkboxes", "selected_options": [{"value":
                                                                               "yes"}]}},
        "role": {"value": {"type": "static_select", "selected_option": {"value": "provider"}}},
        "call_time": {"value": {"type": "datetimepicker",
                                "selected_date_time": int(called.timestamp())}},
    }
    return _interactive({"type": "view_submission", "user": {"id": STAFF},
                         "view": {"id": f"V{n}", "type": "modal",
                                  "callback_id": "phone_complaint",
                                  "state": {"values": values}, "hash": "h1"}})


KINDS: dict[str, tuple[str, Callable[[int, list[str]], str]]] = {
    "slash command (/complaints due)": ("application/x-www-form-urlencoded", command_body),
    "block action (Confirm labels)": ("application/x-www-form-urlencoded", action_body),
    "view submission (phone modal)": ("application/x-www-form-urlencoded", view_body),
}


async def load(url: str, kind: str, count: int, clients: int,
               refs: list[str]) -> tuple[float, list[float], dict[int, int]]:
    content_type, make = KINDS[kind]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    counter = iter(range(count))

    async def client(http: aiohttp.ClientSession) -> None:
        for n in counter:
            body = make(n, refs)
            begin = time.perf_counter()
            async with http.post(url, data=body.encode(),
                                 headers=signed(body, content_type)) as resp:
                await resp.read()
            latencies.append(time.perf_counter() - begin)
            statuses[resp.status] = statuses.get(resp.status, 0) + 1

    async with aiohttp.ClientSession() as http:
        begin = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - begin
    return count / wall, latencies, statuses


async def seed_cases(url: str, counter: Counter, count: int) -> list[str]:
    """Cases for the block actions to act on, made through the phone modal itself."""
    async with aiohttp.ClientSession() as http:
        for n in range(count):
            body = view_body(10_000 + n, [])
            async with http.post(url, data=body.encode(),
                                 headers=signed(body, KINDS["view submission (phone modal)"][0]
                                                )) as resp:
                await resp.read()
    await asyncio.to_thread(wait_for, lambda: (counter.scalar(
        "SELECT count(*) FROM cases") or 0) >= count, 60)
    return [r[0] for r in counter.rows("SELECT reference FROM cases ORDER BY id")]


async def run(rounds: int, count: int, clients: int) -> str:
    fake = await FakeSlack().start()
    relay = CaptureRelay().start()
    with tempfile.TemporaryDirectory(prefix="intake-slack-bench-") as tmp:
        workdir = Path(tmp)
        db_url = f"sqlite:///{workdir / 'intake.db'}"
        port = free_port()
        env = serve_env(db_url, free_port(), relay.port, workdir,
                        SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_SIGNING_SECRET=SECRET,
                        SLACK_API_URL=fake.url, INTAKE_SLACK_PORT=str(port),
                        INTAKE_SLACK_TRIAGE_CHANNEL=TRIAGE, INTAKE_SLACK_STAFF=STAFF,
                        INTAKE_SLACK_POST_INTERVAL_SECONDS="0")
        serve = await asyncio.to_thread(ServeProcess(env, workdir).start)
        counter = Counter(db_url)
        try:
            await asyncio.to_thread(wait_for, lambda: listening(port), 30)
            url = f"http://127.0.0.1:{port}/slack/events"
            refs = await seed_cases(url, counter, 20)
            results: dict[str, list[tuple[float, list[float], dict[int, int]]]] = {
                k: [] for k in KINDS}
            for _ in range(rounds):
                for kind in KINDS:
                    # Each kind alone: the pipeline's backlog from earlier submissions drains.
                    await asyncio.to_thread(wait_for, lambda: counter.unfinished() == 0, 300)
                    results[kind].append(await load(url, kind, count, clients, refs))
                    print(kind, f"{results[kind][-1][0]:.1f} req/s", flush=True)
            await asyncio.to_thread(wait_for, lambda: counter.unfinished() == 0, 300)
            view, command = list(KINDS)[2], list(KINDS)[0]
            await load(url, view, count, clients, refs)  # a burst of calls to process...
            busy = {f"{command}, while the pipeline works through {count} new cases":
                    [await load(url, command, count, clients, refs)]}  # ...as staff look
            done = await asyncio.to_thread(after_the_acks, counter, (rounds + 1) * count,
                                           len(refs))
        finally:
            counter.dispose()
            await asyncio.to_thread(serve.terminate)
            relay.stop()
            await fake.stop()
    return (report({**results, **busy}, rounds, count, clients) + "\n\n" + done + "\n\n"
            + NOTES)


def after_the_acks(counter: Counter, submitted: int, seeded: int) -> str:
    """The work after each ack really happened: cases made, confirmations audited."""
    wait_for(lambda: (counter.scalar("SELECT count(*) FROM cases") or 0) >= submitted + seeded
             and counter.unfinished() == 0, 300)
    cases = counter.scalar("SELECT count(*) FROM cases") or 0
    confirmed = counter.scalar("SELECT count(*) FROM audit WHERE action = 'labels_confirmed'")
    return (f"Work after the acks, checked in the database once the backlog drained: "
            f"{cases - seeded} of {submitted} phone submissions became cases, and "
            f"{confirmed or 0} \"Confirm labels\" clicks are in the audit trail.")


def report(results: dict[str, list[tuple[float, list[float], dict[int, int]]]], rounds: int,
           count: int, clients: int) -> str:
    lines = [stamp(command_line()), "",
             f"`intake-bot serve` in Slack HTTP mode (SQLite), {count} signed requests per "
             f"kind per round from {clients} concurrent clients on keep-alive connections, "
             f"{rounds} rounds cycling through the kinds; medians of the rounds. Latency is "
             "from sending the request to the whole ack response.", "",
             "| request | req/s (median) | per round | ack p50 ms | ack p99 ms | max ms | "
             "HTTP statuses |", "|---|---|---|---|---|---|---|"]
    for kind, runs in results.items():
        rates = [r[0] for r in runs]
        p50 = median([percentile(r[1], 50) for r in runs]) * 1000
        p99 = median([percentile(r[1], 99) for r in runs]) * 1000
        worst = max(max(r[1]) for r in runs) * 1000
        statuses: dict[int, int] = {}
        for r in runs:
            for code, n in r[2].items():
                statuses[code] = statuses.get(code, 0) + n
        lines.append(f"| {kind} | {median(rates):.1f} | {' / '.join(f'{x:.0f}' for x in rates)}"
                     f" | {p50:.1f} | {p99:.1f} | {worst:.0f} | {statuses} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args()
    body = asyncio.run(run(args.rounds, args.requests, args.clients))
    print(body)
    if not args.no_write:
        write_section("Slack", body)


if __name__ == "__main__":
    main()
