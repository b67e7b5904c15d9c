"""Runs the Slack app for ``intake-bot serve``: HTTP (``/slack/events``) or Socket Mode.

The mode comes from the settings (PRODUCT.md, Slack app): HTTP when the bot token and the
signing secret are set, Socket Mode when the bot token and an app token are set. The
runner also starts the post queue worker. If Slack cannot be reached at start, that is
logged and everything keeps running: requests are still served, and posts wait in the
queue until Slack is back.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncBoltRequest
from slack_sdk.signature import SignatureVerifier

from bot.app import app_services, build_app, check_identity
from bot.post_queue import SlackPostWorker
from intake.cases.db import Store
from intake.settings import Settings

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
STOP_GRACE_SECONDS = 10.0
MAX_BODY_BYTES = 1024 * 1024  # Slack payloads are small; refuse anything absurd


def _plain(status: int, reason: str) -> web.Response:
    return web.Response(status=status, text=reason + "\n")


def malformed_body(body: str, content_type: str) -> str | None:
    """Why a (correctly signed) body is not a Slack request, or None when it is one.

    Slack sends events as a JSON object, and commands and interactions as a form whose
    ``payload`` (interactions) is a JSON object with a ``type``.
    """
    if content_type == "application/json" or body.lstrip().startswith("{"):
        try:
            data = json.loads(body)
        except ValueError:
            return "request body is not valid JSON"
        if not isinstance(data, dict) or not data.get("type"):
            return "JSON body is not a Slack event"
        return None
    form = dict(parse_qsl(body, keep_blank_values=True))
    if "payload" in form:
        try:
            data = json.loads(form["payload"])
        except ValueError:
            return "payload is not valid JSON"
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return "payload is not a Slack interaction"
        view = data.get("view")
        if view is not None and not (isinstance(view, dict) and view.get("type")):
            return "payload has a malformed view"
        return None
    if form.get("command") or form.get("ssl_check"):
        return None
    return "body is not a Slack event, command or interaction"


class SlackRunner:
    """Serves the Bolt app in the configured mode and runs the post queue."""

    def __init__(self, settings: Settings, store: Store,
                 on_accept: Callable[[int], None]) -> None:
        self.settings = settings
        self.store = store
        self.app = build_app(settings, store, on_accept=on_accept)
        self.services = app_services(self.app)
        self.port = settings.slack_port
        self._runner: web.AppRunner | None = None
        self._socket: object | None = None
        self._stop = asyncio.Event()
        self._worker_task: asyncio.Task[None] | None = None
        self.post_worker = SlackPostWorker(settings, store, self.services.client)

    async def start(self) -> None:
        """Check the identity (logging only), start serving, start the post queue."""
        if await check_identity(self.services):
            log.info("Slack bot identity: %s in team %s", self.services.identity.get("user_id"),
                     self.services.identity.get("team_id"))
        if self.settings.slack_mode == "socket":
            await self._start_socket_mode()
        else:
            await self._start_http()
        self._worker_task = asyncio.create_task(self.post_worker.run(self._stop),
                                                name="slack-posts")
        log.info("Slack post queue ready")

    async def _start_http(self) -> None:
        web_app = web.Application(client_max_size=MAX_BODY_BYTES)
        web_app.router.add_post(EVENTS_PATH, self._handle)
        from intake.alert_ack import AckRoutes  # the duty email's acknowledgement link

        AckRoutes(self.store, self.settings).add_to(web_app)
        self._runner = web.AppRunner(web_app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.slack_host, self.settings.slack_port)
        await site.start()
        server = site._server  # aiohttp keeps the bound sockets here
        if server is not None and server.sockets:  # type: ignore[attr-defined]
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        log.info("Slack HTTP mode ready on %s:%s%s", self.settings.slack_host, self.port,
                 EVENTS_PATH)

    async def _handle(self, request: web.Request) -> web.Response:
        """Refuse what Slack never sends with a plain 4xx; let Bolt answer the rest.

        Bolt fails with a 500 on a body that is not UTF-8, a timestamp that is not a
        number, or a payload that is not a JSON object; those are answered here. A signed
        request of a kind the app has no listener for (an event it does not use,
        ``app_rate_limited``, ``view_closed``, an unknown action) gets 200 rather than
        Bolt's 404, so Slack neither retries it nor counts it as a failure.
        """
        raw = await request.read()
        try:
            body = raw.decode("utf-8")
        except UnicodeDecodeError:
            return _plain(400, "request body is not UTF-8")
        headers = {k.lower(): v for k, v in request.headers.items()}
        timestamp = headers.get("x-slack-request-timestamp", "")
        if not timestamp.strip().isdigit():
            return _plain(401, "missing or invalid request timestamp")
        verifier = SignatureVerifier(self.settings.slack_signing_secret or "")
        if verifier.is_valid(body, timestamp, headers.get("x-slack-signature", "")):
            problem = malformed_body(body, request.content_type)
            if problem:
                log.warning("refused a signed Slack request: %s", problem)
                return _plain(400, problem)
        bolt_request = AsyncBoltRequest(body=body, query=request.query_string,
                                        headers=headers)
        bolt_response = await self.app.async_dispatch(bolt_request)
        if bolt_response.status == 404 and "unhandled" in str(bolt_response.body):
            log.info("Slack request with no listener (%s) acknowledged",
                     bolt_request.body.get("type") or bolt_request.body.get("command"))
            return web.Response(status=200, text="")
        return await to_aiohttp_response(bolt_response)

    async def _start_socket_mode(self) -> None:
        from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
        from slack_sdk.web.async_client import AsyncWebClient

        handler = AsyncSocketModeHandler(
            self.app, self.settings.slack_app_token,
            web_client=AsyncWebClient(base_url=self.settings.slack_api_url, timeout=10))
        self._socket = handler
        try:
            await handler.connect_async()
            log.info("Slack Socket Mode ready (connected)")
        except Exception as exc:  # noqa: BLE001 - Slack down must not stop the service
            log.warning("Slack Socket Mode could not connect yet (%s); it keeps retrying",
                        type(exc).__name__)
            asyncio.create_task(self._reconnect(handler), name="slack-socket-reconnect")

    async def _reconnect(self, handler: object) -> None:
        delay = 5.0
        while not self._stop.is_set():
            await asyncio.sleep(delay)
            try:
                await handler.connect_async()  # type: ignore[attr-defined]
                log.info("Slack Socket Mode ready (connected)")
                return
            except Exception as exc:  # noqa: BLE001
                log.warning("Slack Socket Mode still unreachable (%s)", type(exc).__name__)
                delay = min(delay * 2, 300.0)

    async def stop(self) -> None:
        """Stop taking requests, let work after acks finish, then stop the post queue."""
        if self._runner is not None:
            await self._runner.cleanup()
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[attr-defined]
        if not await self.services.in_flight.wait_idle(STOP_GRACE_SECONDS):
            log.warning("Slack work still running at stop; stored messages are processed "
                        "on the next start")
        self._stop.set()
        if self._worker_task is not None:
            await asyncio.wait([self._worker_task], timeout=STOP_GRACE_SECONDS)
        log.info("Slack stopped")
