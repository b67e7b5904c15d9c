"""Health and metrics endpoint: liveness, readiness naming the failing check, metrics."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import aiohttp

from intake import pipeline
from intake.cases.db import Store
from intake.health import HealthServer
from intake.records import IntakeRecord
from intake.settings import Settings, load_settings


async def _get(port: int, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, \
            http.get(f"http://127.0.0.1:{port}{path}") as resp:
        return resp.status, await resp.text()


async def test_readiness_names_what_is_down_and_metrics_count_messages(
        sqlite_store: Store, settings: Settings) -> None:
    bad = IntakeRecord(channel="phone", external_id="p-1", received_at=datetime.now(UTC),
                       raw=b"not json", sender="op")
    pipeline.process_message(sqlite_store, pipeline.accept(sqlite_store, bad), settings)
    pipeline.accept(sqlite_store, IntakeRecord(channel="phone", external_id="p-2",
                                               received_at=datetime.now(UTC), raw=b"{}"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]  # nothing listens here
    server = HealthServer(sqlite_store, load_settings(health_port=0), smtp_port=closed_port)
    await server.start()
    try:
        assert (await _get(server.port, "/healthz"))[0] == 200
        status, body = await _get(server.port, "/readyz")
        assert status == 503 and '"smtp": "not listening"' in body
        assert '"database": "ok"' in body
        status, metrics = await _get(server.port, "/metrics")
        assert status == 200
        assert 'intake_messages{disposition="quarantined"} 1.0' in metrics
        assert 'intake_messages{disposition="pending"} 1.0' in metrics
        assert "intake_quarantine_size 1.0" in metrics
        assert "intake_oldest_pending_seconds" in metrics
        assert "intake_outbox_failed 0.0" in metrics
        assert "intake_held_letters_near_deadline 0.0" in metrics
        assert "intake_classification_seconds_bucket" in metrics
    finally:
        await server.stop()
