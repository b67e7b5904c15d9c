"""A person acknowledges an urgent alert: by the Slack button, or by the link in the email.

Until then the reminder scheduler re-sends the alert and escalates it (issue 7 item 2).
The email link is ``/alerts/ack/<token>``, served by the Slack HTTP server and by the
health server. Opening the link only shows a page with a button: mail scanners that
follow links must not acknowledge an alert that nobody has read, so acknowledging takes
a POST with the person's name. Every acknowledgement is in the audit trail.
"""

from __future__ import annotations

import asyncio
import html
import logging
from datetime import UTC, datetime

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from intake.cases.audit import audit
from intake.cases.db import Store
from intake.cases.models import Alert, Case, SlackPost
from intake.settings import Settings

log = logging.getLogger(__name__)

ACK_PATH = "/alerts/ack/{token}"
MAX_NAME = 60


def alert_block_id(alert: Alert) -> str:
    """The block id the alert's Slack post carries (``bot.notify.enqueue_alert``)."""
    return f"alert:{alert.id}"


def acknowledge_alert(session: Session, alert: Alert, actor: str, via: str,
                      settings: Settings | None = None, *,
                      updated_ts: str | None = None) -> bool:
    """Record who acknowledged the alert; False when someone already had.

    Every posted copy of the alert is updated through the post queue, except the message
    ``updated_ts`` that the caller updates itself (the one a person just clicked).
    """
    if alert.acked_at is not None:
        return False
    alert.acked_at = datetime.now(UTC)
    alert.acked_by = actor[:64]
    case = session.get(Case, alert.case_id)
    reference = case.reference if case else None
    audit(session, actor, "alert_acknowledged", reference, alert_id=alert.id,
          kind=alert.kind, via=via, sends=alert.sends)
    if case is not None and settings is not None:
        _update_alert_posts(session, case, alert, settings, updated_ts)
    log.info("alert %s for case %s acknowledged via %s", alert.id, reference, via)
    return True


def acknowledged_text(case: Case, alert: Alert) -> str:
    who = alert.acked_by or "someone"
    shown = f"<@{who.removeprefix('staff:')}>" if who.startswith("staff:") else who
    return (f":white_check_mark: {alert.kind} alert for case {case.reference} acknowledged "
            f"by {shown}.")


def _update_alert_posts(session: Session, case: Case, alert: Alert, settings: Settings,
                        updated_ts: str | None) -> None:
    """Replace the Acknowledge button on every posted copy of this alert."""
    if settings.slack_mode == "off":
        return
    posts = session.scalars(select(SlackPost).where(SlackPost.case_id == case.id,
                                                    SlackPost.purpose == "alert")).all()
    text = acknowledged_text(case, alert)
    for post in posts:
        blocks = post.payload.get("blocks") or []
        if not any(b.get("block_id") == alert_block_id(alert) for b in blocks):
            continue
        if post.status == "pending":
            post.status = "superseded"  # not sent yet: no need to send it at all
            continue
        if post.result_ts and post.result_ts != updated_ts:
            session.add(SlackPost(method="chat.update", purpose="alert", priority=0,
                                  case_id=case.id, payload={
                                      "channel": post.payload.get("channel"),
                                      "ts": post.result_ts, "text": text,
                                      "blocks": [{"type": "section", "text": {
                                          "type": "mrkdwn", "text": text}}]}))


# --- the email link -------------------------------------------------------------------


def _page(title: str, body: str, status: int = 200) -> web.Response:
    doc = (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
           f"{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}"
           "</body></html>")
    return web.Response(text=doc, status=status, content_type="text/html")


def _lookup(store: Store, token: str) -> tuple[str, str, str | None] | None:
    """(case reference, kind, who acknowledged) for a token, or None."""
    with store.session() as session:
        alert = session.scalar(select(Alert).where(Alert.token == token))
        if alert is None:
            return None
        case = session.get(Case, alert.case_id)
        return (case.reference if case else "?", alert.kind, alert.acked_by)


def _ack_by_token(store: Store, settings: Settings, token: str, name: str) -> bool | None:
    with store.session() as session:
        alert = session.scalar(select(Alert).where(Alert.token == token)
                               .with_for_update())
        if alert is None:
            return None
        return acknowledge_alert(session, alert, f"email:{name}", "email link", settings)


class AckRoutes:
    """The ``/alerts/ack/<token>`` page (GET) and acknowledgement (POST)."""

    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def add_to(self, app: web.Application) -> None:
        app.router.add_get(ACK_PATH, self.show)
        app.router.add_post(ACK_PATH, self.acknowledge)

    async def show(self, request: web.Request) -> web.Response:
        found = await asyncio.to_thread(_lookup, self.store, request.match_info["token"])
        if found is None:
            return _page("Unknown alert", "<p>This link does not match any alert.</p>", 404)
        reference, kind, acked_by = found
        if acked_by:
            return _page("Already acknowledged", f"<p>The {html.escape(kind)} alert for case "
                         f"{html.escape(reference)} was acknowledged by "
                         f"{html.escape(acked_by)}.</p>")
        form = ("<form method=\"post\"><label for=\"name\">Your name</label> "
                f"<input id=\"name\" name=\"name\" required maxlength=\"{MAX_NAME}\"> "
                "<button type=\"submit\">Acknowledge</button></form>")
        return _page(f"Acknowledge alert for case {reference}",
                     f"<p>Urgent {html.escape(kind)} alert for case {html.escape(reference)}."
                     f" Acknowledge it to say you are dealing with it.</p>{form}")

    async def acknowledge(self, request: web.Request) -> web.Response:
        form = await request.post()
        name = " ".join(str(form.get("name") or "").split())[:MAX_NAME]
        if not name:
            return _page("Name needed", "<p>Give your name to acknowledge the alert.</p>",
                         400)
        token = request.match_info["token"]
        done = await asyncio.to_thread(_ack_by_token, self.store, self.settings, token, name)
        if done is None:
            return _page("Unknown alert", "<p>This link does not match any alert.</p>", 404)
        if not done:
            return await self.show(request)
        return _page("Alert acknowledged", f"<p>Thank you, {html.escape(name)}. The alert "
                     "is acknowledged and will not be sent again.</p>")
