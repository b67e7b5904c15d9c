"""SIGKILL of ``intake-bot serve`` under load, then a restart on the same database: every
message that got a ``250`` is stored once and processed, and no letter is sent twice."""

from __future__ import annotations

import os
import signal
from collections import Counter as Tally
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes
from pathlib import Path

import pytest
from sqlalchemy import update

from bench.corpus import make_messages
from bench.serve_process import CaptureRelay, Counter, ServeProcess, wait_for
from intake.cases.models import OutboxItem
from tests.faults.conftest import Delivery, Serves, deliver, export

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

MESSAGES = 60
KILL_AFTER = 20  # 250s received before the kill: the pipeline and outbox are mid-work


def _kill_once(serve: ServeProcess) -> Callable[[Delivery], None]:
    def on_accept(out: Delivery) -> None:
        if len(out.accepted) == KILL_AFTER and serve.proc is not None:
            os.kill(serve.pid, signal.SIGKILL)
    return on_accept


def test_sigkill_under_load_loses_no_250_and_sends_no_letter_twice(
        tmp_path: Path, relay: CaptureRelay, serves: Serves) -> None:
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    serve: ServeProcess = serves(url, relay.port)
    samples = make_messages(MESSAGES, seed=7, tag="sigkill")
    sent = deliver(serve.smtp_port, samples, clients=4,
                   on_accept=_kill_once(serve))
    serve.kill()  # reap it
    assert KILL_AFTER <= len(sent.accepted) < MESSAGES  # the kill cut the load short
    assert sent.errors > 0  # clients saw connections drop, as senders would

    restarted: ServeProcess = serves(url, relay.port, name="restart")
    db = Counter(url)
    try:
        assert wait_for(lambda: db.unfinished() == 0 and db.scalar(
            "SELECT count(*) FROM outbox WHERE status = 'pending'") == 0, 40), \
            restarted.log()[-2000:]
        # Items the killed process had claimed wait out their lease (a minute) before the
        # restart touches them; run the clock forward rather than wait.
        with db.engine.begin() as conn:
            conn.execute(update(OutboxItem)
                         .where(OutboxItem.status.in_(("sending", "delivering")))
                         .values(next_attempt_at=datetime.now(UTC)))
        assert wait_for(lambda: db.outbox_waiting() == 0, 30), restarted.log()[-2000:]
        stored = Tally(r[0] for r in db.rows("SELECT external_id FROM messages"))
        dispositions = {r[0] for r in db.rows("SELECT disposition FROM messages")}
        cases = db.scalar("SELECT count(*) FROM cases")
        refs = db.rows("SELECT reference FROM cases")
        unknown = db.scalar("SELECT count(*) FROM outbox WHERE status = 'failed'")
        sent_rows = db.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'")
    finally:
        db.dispose()
    for message_id in sent.accepted:  # every 250 is stored exactly once
        assert stored[message_id] == 1, message_id
    rows = export(restarted.env, tmp_path)  # and `messages export` shows it with its case
    exported = {r["external_id"]: r for r in rows}
    assert len(rows) == len(exported) == len(stored)
    assert all(exported[m]["disposition"] == "new_case" and exported[m]["case"]
               for m in sent.accepted)
    assert all(n == 1 for n in stored.values())
    assert dispositions == {"new_case"}
    assert cases == len(stored) == len({r[0] for r in refs})  # no reference issued twice
    relayed = Tally(message_from_bytes(m.data)["Message-ID"] for m in relay.messages)
    assert all(n == 1 for n in relayed.values()), "a letter was sent twice"
    # Each case's letter went once, except one the kill may have caught mid-transfer:
    # the relay may or may not have kept it, so it is flagged for a person, never resent.
    assert unknown <= 1 and sent_rows + unknown == cases
    assert sent_rows <= len(relayed) <= sent_rows + unknown
    assert restarted.terminate() == 0


def test_sigkill_while_letters_go_out_sends_none_twice(tmp_path: Path, serves: Serves) -> None:
    """Killed in the middle of the outbox (a slow relay): after the restart every letter
    has gone exactly once, or, for the one in transfer, is flagged and not resent."""
    relay = CaptureRelay(delay=0.2).start()
    try:
        url = f"sqlite:///{tmp_path / 'intake.db'}"
        serve = serves(url, relay.port)
        samples = make_messages(15, seed=12, tag="sigkill-outbox")
        assert len(deliver(serve.smtp_port, samples, clients=3).accepted) == 15
        assert wait_for(lambda: relay.count() >= 4, 60), serve.log()[-1500:]
        serve.kill()  # letters are mid-flight: some sent, one in transfer, the rest queued
        before = relay.count()
        assert before < 15
        restarted = serves(url, relay.port, name="restart")
        db = Counter(url)
        try:
            assert wait_for(lambda: db.unfinished() == 0 and db.scalar(
                "SELECT count(*) FROM outbox WHERE status = 'pending'") == 0, 40)
            with db.engine.begin() as conn:  # the dead process's lease runs out
                conn.execute(update(OutboxItem)
                             .where(OutboxItem.status.in_(("sending", "delivering")))
                             .values(next_attempt_at=datetime.now(UTC)))
            assert wait_for(lambda: db.outbox_waiting() == 0, 40), restarted.log()[-1500:]
            sent_rows = db.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'")
            unknown = db.scalar("SELECT count(*) FROM outbox WHERE status = 'failed'")
            flagged = db.scalar("SELECT count(*) FROM letters WHERE status = 'failed'")
        finally:
            db.dispose()
        relayed = Tally(message_from_bytes(m.data)["Message-ID"] for m in relay.messages)
        assert all(n == 1 for n in relayed.values()), "a letter was sent twice"
        assert sent_rows + unknown == 15 and unknown <= 1 and flagged == unknown
        assert sent_rows <= len(relayed) <= sent_rows + unknown
        assert relay.count() > before  # the restart sent the rest
        assert restarted.terminate() == 0
    finally:
        relay.stop()
