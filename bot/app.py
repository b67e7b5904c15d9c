"""The Slack app: one Bolt ``AsyncApp`` built from the settings, with every listener module.

The app talks to the Web API at ``settings.slack_api_url`` (so tests use a local fake)
and keeps Bolt's request verification on (signature and timestamp; issue 5 item 8).

Listener modules plug in through a ``register(app: AsyncApp) -> None`` function. To add
one, write ``bot/<name>.py`` with that function and add ``"bot.<name>"`` to
:data:`LISTENER_MODULES`. Listeners reach the database, the settings and the staff check
through ``services(context)``.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.context.async_context import AsyncBoltContext
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.access import StaffDirectory
from bot.errors import SLACK_UNREACHABLE
from intake.cases.db import Store
from intake.settings import Settings

log = logging.getLogger(__name__)

# Every module whose register(app) is called, in order. Add new listener modules here.
LISTENER_MODULES: tuple[str, ...] = (
    "bot.intake",
    "bot.phone_modal",
    "bot.triage",
    "bot.actions",
    "bot.commands",
    "bot.home",
)

# How long to wait before asking auth.test again after Slack could not be reached.
IDENTITY_RETRY_SECONDS = 30.0


class InFlight:
    """Counts work running after an ack, so a clean stop can let it finish."""

    def __init__(self) -> None:
        self._count = 0
        self._idle = asyncio.Event()
        self._idle.set()

    @asynccontextmanager
    async def track(self) -> AsyncIterator[None]:
        self._count += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._count -= 1
            if self._count == 0:
                self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait for running work to finish; False if some was still running at timeout."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False


class KeyedLocks:
    """One asyncio lock per key (a case reference), dropped when nobody holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


@dataclass
class BotServices:
    """What listeners need besides Slack itself."""

    settings: Settings
    store: Store
    on_accept: Callable[[int], None]
    client: AsyncWebClient
    staff: StaffDirectory
    in_flight: InFlight = field(default_factory=InFlight)
    # A double click sends the same action twice at once; changes to one case run one at a
    # time so each sees what the other did (SQLite has no row locks).
    case_locks: KeyedLocks = field(default_factory=KeyedLocks)
    identity: dict[str, Any] = field(default_factory=dict)  # auth.test answer once known


def services(context: AsyncBoltContext | dict[str, Any]) -> BotServices:
    """The :class:`BotServices` a listener runs with (put in every request's context)."""
    return context["services"]


class _QuietTokenNotice(logging.Filter):
    """Bolt warns that SLACK_BOT_TOKEN in the environment is unused when a client is given;
    here that is by design (the token goes through authorize), so the notice is noise."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "`token` will be unused" not in record.getMessage()


BOLT_LOG = logging.getLogger("bot.bolt")
BOLT_LOG.addFilter(_QuietTokenNotice())


def web_client(settings: Settings) -> AsyncWebClient:
    """A Web API client for the configured token and base URL."""
    return AsyncWebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url,
                          timeout=10)


def _authorizer(svc: BotServices) -> Callable[..., Awaitable[AuthorizeResult]]:
    """Bolt's authorize step that tolerates Slack being unreachable.

    Bolt's default calls ``auth.test`` on the first request and fails the request when
    Slack cannot be reached; intake must keep working then (PRODUCT.md: "the rest still
    runs"), so the identity is cached once known and retried at most every 30 seconds.
    """
    state = {"next_try": 0.0}

    async def authorize(enterprise_id: str | None, team_id: str | None,
                        user_id: str | None) -> AuthorizeResult:
        if not svc.identity and time.monotonic() >= state["next_try"]:
            await check_identity(svc)
            if not svc.identity:
                state["next_try"] = time.monotonic() + IDENTITY_RETRY_SECONDS
        ident = svc.identity
        return AuthorizeResult(
            enterprise_id=enterprise_id, team_id=team_id or ident.get("team_id"),
            bot_token=svc.settings.slack_bot_token, bot_id=ident.get("bot_id"),
            bot_user_id=ident.get("user_id"), user_id=user_id,
        )

    return authorize


async def check_identity(svc: BotServices) -> bool:
    """Ask ``auth.test`` who the bot is; log and return False when Slack is unreachable."""
    try:
        resp = await svc.client.auth_test()
    except SlackApiError as exc:
        log.error("Slack auth.test refused: %s", exc.response.get("error"))
        return False
    except SLACK_UNREACHABLE as exc:
        log.warning("Slack unreachable (auth.test: %s); posts will queue until it is back",
                    type(exc).__name__)
        return False
    svc.identity = {k: resp.get(k) for k in ("team_id", "enterprise_id", "user_id", "bot_id",
                                             "team", "url")}
    return True


def is_foreign_event(body: dict[str, Any], identity: dict[str, Any]) -> bool:
    """An Events API callback for a workspace (or Grid org) the bot is not installed in.

    The app serves one workspace; such an event cannot be intake for it, whatever the
    message says. Until ``auth.test`` has answered, nothing is treated as foreign.
    """
    ours, org = identity.get("team_id"), identity.get("enterprise_id")
    if body.get("type") != "event_callback" or not ours:
        return False
    grants = [a for a in body.get("authorizations") or [] if isinstance(a, dict)]
    teams = {body.get("team_id"), *(a.get("team_id") for a in grants)}
    orgs = {body.get("enterprise_id"), *(a.get("enterprise_id") for a in grants)}
    return ours not in teams and not (org and org in orgs)


def register_listeners(app: AsyncApp, modules: tuple[str, ...] = LISTENER_MODULES) -> list[str]:
    """Call ``register(app)`` of each listener module; return their names."""
    for name in modules:
        importlib.import_module(name).register(app)
    return list(modules)


def build_app(settings: Settings, store: Store, *,
              on_accept: Callable[[int], None]) -> AsyncApp:
    """The Bolt app for these settings, with services in every request's context."""
    if settings.slack_mode == "off":
        raise ValueError("Slack is not configured (set SLACK_BOT_TOKEN and "
                         "SLACK_SIGNING_SECRET or SLACK_APP_TOKEN)")
    client = web_client(settings)
    svc = BotServices(settings=settings, store=store, on_accept=on_accept, client=client,
                      staff=StaffDirectory(settings, client))
    app = AsyncApp(
        # The per-request client gets the token from authorize(); this one only carries
        # the base URL, so Bolt builds every request's client against SLACK_API_URL.
        client=AsyncWebClient(base_url=settings.slack_api_url, timeout=10),
        signing_secret=settings.slack_signing_secret or "",
        authorize=_authorizer(svc),
        request_verification_enabled=True,
        name="intake-bot",
        logger=BOLT_LOG,
    )

    @app.middleware
    async def _inject_services(context: AsyncBoltContext,
                               next: Callable[[], Awaitable[Any]]) -> Any:  # noqa: A002
        context["services"] = svc
        return await next()

    @app.middleware
    async def _ignore_foreign_events(body: dict[str, Any],
                                     next: Callable[[], Awaitable[Any]]) -> Any:  # noqa: A002
        if is_foreign_event(body, svc.identity):
            log.warning("ignored event %s for team %s: not this workspace",
                        body.get("event_id"), body.get("team_id"))
            return BoltResponse(status=200, body="")
        return await next()

    app._intake_services = svc  # type: ignore[attr-defined]  # for runners and tests
    loaded = register_listeners(app)
    log.info("Slack listeners: %s", ", ".join(loaded))
    return app


def app_services(app: AsyncApp) -> BotServices:
    """The services an app was built with (runners and tests use it)."""
    return app._intake_services  # type: ignore[attr-defined,no-any-return]
