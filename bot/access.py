"""Who may act on cases: the configured triage staff (PRODUCT.md, Slack app; issue 5 item 8).

``INTAKE_SLACK_STAFF`` lists user IDs (``U…``/``W…``) and user group IDs (``S…``). Groups
are resolved with ``usergroups.users.list`` and cached for a few minutes, so a busy triage
channel does not call Slack on every click. When Slack cannot be asked, the last known
membership is used; with none, the answer is "no" (refusing is the safe failure).
Refusals are audited with who and when, and the person gets an ephemeral explanation.
"""

from __future__ import annotations

import asyncio
import logging
import time

from slack_sdk.web.async_client import AsyncWebClient

from bot.errors import SLACK_CALL_FAILED
from intake.cases.db import Store
from intake.cases.models import AuditEntry
from intake.settings import Settings

log = logging.getLogger(__name__)

REFUSAL_TEXT = ("Only triage staff can do that. Ask a member of the triage team if this "
                "case needs attention.")


def is_group_id(entry: str) -> bool:
    """Slack user group IDs start with S; user IDs with U or W."""
    return entry.startswith("S")


class StaffDirectory:
    """Answers ``is_staff`` from the settings, resolving user groups through Slack."""

    def __init__(self, settings: Settings, client: AsyncWebClient, *,
                 ttl_seconds: float = 300.0) -> None:
        self._users = {e for e in settings.slack_staff if not is_group_id(e)}
        self._groups = [e for e in settings.slack_staff if is_group_id(e)]
        self._client = client
        self._ttl = ttl_seconds
        self._members: dict[str, set[str]] = {}
        self._fetched_at: dict[str, float] = {}
        self._lock = asyncio.Lock()

    @property
    def configured(self) -> bool:
        """Whether any staff are configured (with none, nothing is held for review)."""
        return bool(self._users or self._groups)

    async def is_staff(self, user_id: str) -> bool:
        """True when ``user_id`` is listed directly or is in a listed user group."""
        if not user_id:
            return False
        if user_id in self._users:
            return True
        for group in self._groups:
            if user_id in await self._group_members(group):
                return True
        return False

    async def _group_members(self, group: str) -> set[str]:
        async with self._lock:
            fresh = time.monotonic() - self._fetched_at.get(group, -self._ttl) < self._ttl
            if fresh:
                return self._members[group]
            try:
                resp = await self._client.usergroups_users_list(usergroup=group)
                self._members[group] = set(resp.get("users") or [])
                self._fetched_at[group] = time.monotonic()
            except SLACK_CALL_FAILED as exc:
                log.warning("could not resolve staff user group %s: %s", group,
                            type(exc).__name__)
            return self._members.get(group, set())


def audit_refusal(store: Store, user_id: str, action: str, case_reference: str | None) -> None:
    """Record a refused attempt (blocking; run it off the event loop)."""
    with store.session() as session:
        session.add(AuditEntry(actor=f"slack:{user_id or 'unknown'}",
                               case_reference=case_reference, action="refused",
                               detail={"attempted": action, "reason": "not triage staff"}))


async def refuse(client: AsyncWebClient, store: Store, *, user_id: str, channel: str | None,
                 action: str, case_reference: str | None = None) -> None:
    """Tell a non-staff user ephemerally that they cannot do this, and audit the attempt."""
    log.info("refused %s by %s (case %s): not triage staff", action, user_id, case_reference)
    await asyncio.to_thread(audit_refusal, store, user_id, action, case_reference)
    if channel:
        try:
            await client.chat_postEphemeral(channel=channel, user=user_id, text=REFUSAL_TEXT)
        except SLACK_CALL_FAILED as exc:
            log.warning("could not send refusal to %s: %s", user_id, type(exc).__name__)
