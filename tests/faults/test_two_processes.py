"""Two ``intake-bot serve`` processes on one PostgreSQL database share the work: every
message is processed once, no reference is issued twice, and no letter is sent twice."""

from __future__ import annotations

import threading
from collections import Counter as Tally
from email import message_from_bytes

import pytest

from bench.corpus import Sample, make_messages
from bench.serve_process import CaptureRelay, Counter, ServeProcess, wait_for
from tests.faults.conftest import Delivery, Serves, deliver

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.timeout(120)]

PER_PROCESS = 25


def test_two_processes_on_one_postgres_never_double_anything(
        pg_url: str, relay: CaptureRelay, serves: Serves) -> None:
    first: ServeProcess = serves(pg_url, relay.port, name="one")
    second: ServeProcess = serves(pg_url, relay.port, name="two")
    samples = make_messages(2 * PER_PROCESS, seed=8, tag="two-procs")
    results: dict[str, Delivery] = {}

    def send(name: str, port: int, part: list[Sample]) -> None:
        results[name] = deliver(port, part, clients=3)

    threads = [threading.Thread(target=send, args=("one", first.smtp_port,
                                                   samples[:PER_PROCESS])),
               threading.Thread(target=send, args=("two", second.smtp_port,
                                                   samples[PER_PROCESS:]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    accepted = results["one"].accepted + results["two"].accepted
    assert sorted(accepted) == sorted(s.message_id for s in samples)

    db = Counter(pg_url)
    try:
        assert wait_for(lambda: db.messages() == len(samples) and db.unfinished() == 0
                        and db.outbox_waiting() == 0, 60)
        wait_for(lambda: False, 1.5)  # further polls by either process must send nothing
        refs = [r[0] for r in db.rows("SELECT reference FROM cases")]
        dispositions = Tally(r[0] for r in db.rows("SELECT disposition FROM messages"))
        opened = db.scalar("SELECT count(*) FROM audit WHERE action = 'case_opened'")
        letters = db.scalar("SELECT count(*) FROM letters WHERE status = 'sent'")
    finally:
        db.dispose()
    assert dispositions == {"new_case": len(samples)}
    assert len(refs) == len(set(refs)) == len(samples)  # no reference issued twice
    assert opened == len(samples)  # each message processed by one process only
    relayed = Tally(message_from_bytes(m.data)["Message-ID"] for m in relay.messages)
    assert len(relayed) == letters == len(samples)
    assert all(n == 1 for n in relayed.values()), "a letter was sent twice"
    # Both processes took part (the load was split between their SMTP ports).
    assert results["one"].accepted and results["two"].accepted
    assert first.terminate() == 0 and second.terminate() == 0
