"""Health and metrics over HTTP, so operators see trouble before complainants do.

``/healthz`` is liveness (the process answers). ``/readyz`` checks the database, the SMTP
listener and the outbox (no letter stuck past its retries). ``/metrics`` serves Prometheus
metrics computed from the case store at scrape time, plus classification latency.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from intake.cases.db import Store
from intake.cases.models import PENDING, QUARANTINED, Deadline, Letter, Message, OutboxItem
from intake.metrics import CLASSIFY_SECONDS
from intake.scan import scanner_for
from intake.settings import Settings


class StoreCollector(Collector):
    """Gauges read from the database when Prometheus scrapes."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = datetime.now(UTC)
        with self.store.session() as s:
            by_disp = s.execute(select(Message.disposition, func.count())
                                .group_by(Message.disposition)).all()
            oldest = s.execute(select(func.min(Message.received_at))
                               .where(Message.disposition == PENDING)).scalar()
            failed = s.execute(select(func.count()).select_from(OutboxItem)
                               .where(OutboxItem.status == "failed")).scalar_one()
            soon = now.date() + timedelta(days=2)
            held = s.execute(
                select(func.count(func.distinct(Letter.id))).select_from(Letter)
                .join(Deadline, (Deadline.case_id == Letter.case_id)
                      & (Deadline.kind == "acknowledge_by"))
                .where(Letter.status == "held", Deadline.superseded_at.is_(None),
                       Deadline.due_date <= soon)).scalar_one()
        g = GaugeMetricFamily("intake_messages", "Inbound messages by disposition",
                              labels=["disposition"])
        for disposition, count in by_disp:
            g.add_metric([disposition], count)
        yield g
        quarantined = dict(by_disp).get(QUARANTINED, 0)
        yield GaugeMetricFamily("intake_quarantine_size", "Messages kept for a person",
                                value=quarantined)
        age = (now - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily("intake_oldest_pending_seconds",
                                "Age of the oldest unprocessed message", value=age)
        yield GaugeMetricFamily("intake_outbox_failed", "Outbox entries that gave up",
                                value=failed)
        yield GaugeMetricFamily("intake_held_letters_near_deadline",
                                "Held letters whose acknowledgement is due within 2 days",
                                value=held)


def build_registry(store: Store) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(StoreCollector(store))
    registry.register(CLASSIFY_SECONDS)
    return registry


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


class HealthServer:
    def __init__(self, store: Store, settings: Settings, smtp_port: int | None = None) -> None:
        self.store = store
        self.settings = settings
        self.smtp_port = smtp_port or settings.smtp_port
        self.registry = build_registry(store)
        self.port = settings.health_port or 0
        self._runner: web.AppRunner | None = None

    def _checks(self) -> dict[str, str]:
        checks: dict[str, str] = {}
        try:
            with self.store.session() as s:
                s.execute(text("select 1"))
                stuck = s.execute(select(func.count()).select_from(OutboxItem)
                                  .where(OutboxItem.status == "failed")).scalar_one()
            checks["database"] = "ok"
            checks["outbox"] = "ok" if stuck == 0 else f"{stuck} failed"
        except Exception as exc:  # noqa: BLE001 - reported as not ready
            checks["database"] = f"error: {type(exc).__name__}"
        checks["smtp"] = "ok" if _port_open(self.settings.smtp_host, self.smtp_port) \
            else "not listening"
        scanner = scanner_for(self.settings)
        if scanner is not None:
            checks["clamd"] = "ok" if scanner.ping() else "not answering"
        return checks

    async def ready(self, _request: web.Request) -> web.Response:
        checks = await asyncio.to_thread(self._checks)
        ok = all(v == "ok" for v in checks.values())
        return web.json_response({"ready": ok, "checks": checks}, status=200 if ok else 503)

    async def live(self, _request: web.Request) -> web.Response:
        return web.json_response({"live": True})

    async def metrics(self, _request: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, self.registry)
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4"})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self.live)
        app.router.add_get("/readyz", self.ready)
        app.router.add_get("/metrics", self.metrics)
        from intake.alert_ack import AckRoutes  # the duty email's link, also with Slack off

        AckRoutes(self.store, self.settings).add_to(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.health_host, self.port)
        await site.start()
        server = site._server  # noqa: SLF001 - aiohttp exposes the bound port only here
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
