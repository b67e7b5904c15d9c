"""The safeguarding duty route end to end (issue 7 item 2).

A safeguarding case alerts Slack (fake Web API) and the duty address at once (real outbox
worker to a capture SMTP server on loopback); unacknowledged, the reminder scheduler
re-sends it and escalates to the second address; a person acknowledges it with the email's
link (GET shows a page, POST with a name acknowledges) and it stops. Every step is audited.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import Message as EmailMessage
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select

from intake import settings as settings_mod
from intake.cases.db import Store, upgrade
from intake.cases.models import Alert, AuditEntry
from intake.email.outbox import OutboxWorker
from intake.reminders import ReminderScheduler
from intake.settings import Settings
from tests.slack.conftest import SlackHarness, fake_slack, slack_bot, slack_settings  # noqa: F401
from tests.slack.triage_helpers import SAFEGUARDING, new_case
from tests.support import CaptureHandler, capture_relay

DUTY = "duty@example.org"
HEAD = "head-of-service@example.org"
PUBLIC = "https://intake.example.org"
LINK = re.compile(re.escape(PUBLIC) + r"/alerts/ack/([A-Za-z0-9_-]+)")


@pytest.fixture
def relay() -> Iterator[tuple[CaptureHandler, int]]:
    with capture_relay() as relay:
        yield relay


def body(mail: EmailMessage) -> str:
    part = mail.get_body(("plain",)) if hasattr(mail, "get_body") else None
    payload = (part or mail).get_payload(decode=True)
    if payload is None:
        for sub in mail.walk():
            if sub.get_content_type() == "text/plain":
                return sub.get_payload(decode=True).decode()
        return ""
    return payload.decode()


def mails_to(capture: CaptureHandler, address: str) -> list[EmailMessage]:
    return capture.to(address)


def audit_actions(store: Store, reference: str) -> list[tuple[str, str]]:
    with store.session() as s:
        return [(a.actor, a.action) for a in s.scalars(
            select(AuditEntry).where(AuditEntry.case_reference == reference)
            .order_by(AuditEntry.id))]


@pytest.mark.slack_settings(duty_email=DUTY, duty_escalation_email=HEAD, duty_ack_minutes=1,
                            public_url=PUBLIC)
async def test_duty_route_end_to_end(slack_bot: SlackHarness,  # noqa: F811
                                     relay: tuple[CaptureHandler, int]) -> None:
    capture, port = relay
    settings = slack_bot.settings
    outbox = OutboxWorker(slack_bot.store, settings.model_copy(update={"relay_port": port}))
    case = await new_case(slack_bot, what_happened=SAFEGUARDING)
    assert case.safeguarding
    await slack_bot.fake.wait_until(lambda: len(_alert_posts(slack_bot)) == 1,
                                    timeout=15, what="alert in Slack")

    # At once: the duty address, with a link to acknowledge, and structured facts only.
    await outbox.send_due()
    [first] = mails_to(capture, DUTY)
    assert case.reference in first["Subject"] and "safeguarding" in first["Subject"]
    text = body(first)
    assert "bruises" not in text and "Dawn Fenwick" not in text
    token = LINK.search(text).group(1)  # type: ignore[union-attr]

    # Not acknowledged within duty_ack_minutes: sent again, and escalated.
    scheduler = ReminderScheduler(slack_bot.store, settings)
    later = datetime.now(UTC) + timedelta(minutes=2)
    assert (await asyncio.to_thread(scheduler.run_once, later)).alerts_resent == 1
    await outbox.send_due()
    assert len(mails_to(capture, DUTY)) == 2
    [escalated] = mails_to(capture, HEAD)
    assert escalated["Subject"].startswith("ESCALATED") and token in body(escalated)
    await slack_bot.fake.wait_until(lambda: len(_alert_posts(slack_bot)) == 2,
                                    timeout=15, what="alert re-posted in Slack")

    # The email link: opening it shows a page and changes nothing (mail scanners open
    # links); posting a name acknowledges.
    base = f"http://127.0.0.1:{slack_bot.runner.port}/alerts/ack/"
    async with aiohttp.ClientSession() as http:
        async with http.get(base + token) as page:
            assert page.status == 200 and "Your name" in await page.text()
        assert _alert(slack_bot).acked_at is None
        async with http.post(base + token, data={"name": "  "}) as nameless:
            assert nameless.status == 400
        async with http.post(base + token, data={"name": "Sam Duty"}) as done:
            assert done.status == 200 and "acknowledged" in await done.text()
        async with http.get(base + "not-a-token") as unknown:
            assert unknown.status == 404
        async with http.get(base + token) as again:
            assert "Already acknowledged" in await again.text()
    alert = _alert(slack_bot)
    assert alert.acked_by == "email:Sam Duty" and alert.sends == 2

    # The Slack copies lose their button; nothing more is sent.
    await slack_bot.fake.wait_until(lambda: len([
        c for c in slack_bot.fake.calls_to("chat.update")
        if "acknowledged by email:Sam Duty" in str(c.params.get("text"))]) == 2,
        timeout=15, what="alert posts updated")
    assert (await asyncio.to_thread(scheduler.run_once, later + timedelta(hours=1))
            ).alerts_resent == 0
    await outbox.send_due()
    assert len(capture.received) == 3
    actions = audit_actions(slack_bot.store, case.reference)
    assert [a for a in actions if a[1].startswith("alert_")] == [
        ("system", "alert_raised"), ("system", "alert_resent"),
        ("system", "alert_escalated"), ("email:Sam Duty", "alert_acknowledged")]


def _alert(bot: SlackHarness) -> Alert:
    with bot.store.session() as s:
        return s.scalars(select(Alert)).one()


def _alert_posts(bot: SlackHarness) -> list[Any]:
    return [c for c in bot.fake.calls_to("chat.postMessage")
            if "URGENT" in str(c.params.get("text"))]


@pytest.fixture
def slack_off(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    import os

    for key in list(os.environ):
        if key.startswith(("INTAKE_", "SLACK_")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    with settings_mod.override_settings(database_url=f"sqlite:///{tmp_path / 'i.db'}",
                                        duty_email=DUTY, health_port=0,
                                        public_url=PUBLIC) as s:
        yield s


async def test_link_served_by_the_health_server_when_slack_is_off(
        slack_off: Settings) -> None:
    from intake import pipeline
    from intake.channels.phone import phone_record
    from intake.health import HealthServer
    from tests.test_pipeline import FORM

    await asyncio.to_thread(upgrade, slack_off.database_url)
    store = Store(slack_off.database_url)
    now = datetime.now(UTC)
    record = phone_record({**FORM, "what_happened": SAFEGUARDING,
                           "call_time": now.isoformat()}, operator="op", now=now)
    outcome = await asyncio.to_thread(pipeline.process_message, store,
                                      pipeline.accept(store, record), slack_off)
    assert outcome is not None
    with store.session() as s:
        alert = s.scalars(select(Alert)).one()
        token = alert.token
    health = HealthServer(store, slack_off)
    await health.start()
    try:
        url = f"http://127.0.0.1:{health.port}/alerts/ack/{token}"
        async with aiohttp.ClientSession() as http:
            async with http.post(url, data={"name": "Night duty"}) as done:
                assert done.status == 200
    finally:
        await health.stop()
    with store.session() as s:
        assert s.scalars(select(Alert)).one().acked_by == "email:Night duty"
    store.dispose()
