"""The relay is down for a while: letters wait in the outbox, then each goes exactly once."""

from __future__ import annotations

from collections import Counter as Tally
from email import message_from_bytes
from pathlib import Path

import pytest

from bench.corpus import make_messages
from bench.serve_process import CaptureRelay, Counter, ServeProcess, free_port, wait_for
from tests.faults.conftest import Serves, deliver

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


def test_letters_wait_for_the_relay_and_none_is_lost_or_doubled(
        tmp_path: Path, serves: Serves) -> None:
    relay_port = free_port()  # nothing listens there yet: the relay is down
    url = f"sqlite:///{tmp_path / 'intake.db'}"
    serve: ServeProcess = serves(url, relay_port)
    samples = make_messages(6, seed=1, tag="relay-down")
    sent = deliver(serve.smtp_port, samples, clients=2)
    assert len(sent.accepted) == 6 and not sent.codes and not sent.errors
    db = Counter(url)
    try:
        assert wait_for(lambda: db.messages() == 6 and db.unfinished() == 0, 45)
        # Every letter is queued and has been tried at least once against the dead relay.
        assert wait_for(lambda: db.scalar(
            "SELECT count(*) FROM outbox WHERE status = 'pending' AND attempts >= 1") == 6, 30)
        assert db.scalar("SELECT count(*) FROM outbox WHERE status = 'sent'") == 0
        reasons = {r[0] for r in db.rows("SELECT last_error FROM outbox")}
        assert all(r and r.startswith("relay unavailable") for r in reasons)

        relay = CaptureRelay(port=relay_port).start()  # the relay comes back
        try:
            assert wait_for(lambda: db.scalar(
                "SELECT count(*) FROM outbox WHERE status = 'sent'") == 6, 45)
            wait_for(lambda: False, 1.5)  # a further poll or two must not resend anything
            relayed = list(relay.messages)
        finally:
            relay.stop()
        statuses = {r[0] for r in db.rows("SELECT status FROM letters")}
    finally:
        db.dispose()
    assert len(relayed) == 6
    ids = Tally(message_from_bytes(m.data)["Message-ID"] for m in relayed)
    assert all(n == 1 for n in ids.values()) and len(ids) == 6
    assert sorted(r for m in relayed for r in m.rcpts) == sorted(
        f"head{n}@school{n % 97}.example" for n in range(6))
    assert statuses == {"sent"}
    assert serve.terminate() == 0
