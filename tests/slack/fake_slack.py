"""A fake Slack Web API on loopback: records every call and answers like Slack.

Real Slack cannot be reached from tests, so the app's real ``AsyncWebClient`` talks to
this aiohttp server instead (``SLACK_API_URL`` points here). It speaks the parts of the
Web API the app may call (PRODUCT.md, Slack app), serves the upload URL that
``files.getUploadURLExternal`` hands out, and can be told to answer ``429`` with
``Retry-After`` or to be down (connections dropped), so rate limits and outages are tested
against a real HTTP peer.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"
TEAM_ID = "T0TEST"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"

# What the app is allowed to call (PRODUCT.md, Slack app); anything else is recorded and
# answered with Slack's unknown_method, so a test can assert nothing else was used.
ALLOWED_METHODS = frozenset({
    "auth.test", "chat.postMessage", "chat.update", "chat.postEphemeral", "views.open",
    "views.update", "views.publish", "users.info", "usergroups.users.list",
    "conversations.info", "files.getUploadURLExternal", "files.completeUploadExternal",
})


@dataclass
class Call:
    """One request the fake received."""

    method: str
    params: dict[str, Any]
    token: str | None
    at: float  # time.monotonic()
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)


@dataclass
class _RateLimit:
    remaining: int
    retry_after: int


@dataclass
class FakeSlack:
    """The server and its recorded calls; start with ``await fake.start()``."""

    host: str = "127.0.0.1"
    calls: list[Call] = field(default_factory=list)
    uploads: dict[str, bytes] = field(default_factory=dict)
    usergroups: dict[str, list[str]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    down: bool = False
    port: int = 0
    _rate_limits: dict[str, _RateLimit] = field(default_factory=dict)
    _errors: dict[str, str] = field(default_factory=dict)
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    _runner: web.AppRunner | None = None
    socket_envelopes: asyncio.Queue[dict[str, Any]] | None = None
    socket_acks: list[dict[str, Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The base URL to give the client (``SLACK_API_URL``)."""
        return f"http://{self.host}:{self.port}/api/"

    async def start(self) -> FakeSlack:
        self.socket_envelopes = asyncio.Queue()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/api/apps.connections.open", self._connections_open)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # --- knobs -----------------------------------------------------------------------

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """Answer the next ``times`` calls of ``method`` with 429 and ``Retry-After``."""
        self._rate_limits[method] = _RateLimit(times, retry_after)

    def fail(self, method: str, error: str) -> None:
        """Answer every later call of ``method`` with ``{"ok": false, "error": error}``."""
        self._errors[method] = error

    # --- queries ---------------------------------------------------------------------

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.status == 200]

    async def wait_for(self, method: str, count: int = 1, timeout: float = 5.0) -> list[Call]:
        """Wait until ``method`` was answered successfully ``count`` times."""
        await self.wait_until(lambda: len(self.calls_to(method)) >= count, timeout,
                              f"{count} x {method}")
        return self.calls_to(method)

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0,
                         what: str = "condition") -> None:
        """Poll ``predicate`` (it may look at anything, not only calls) until it holds."""
        end = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > end:
                raise AssertionError(f"fake Slack: timed out waiting for {what}; "
                                     f"calls: {[c.method for c in self.calls]}")
            await asyncio.sleep(0.02)

    # --- handlers --------------------------------------------------------------------

    async def _record(self, call: Call) -> None:
        self.calls.append(call)

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        body = await request.read()
        if body and request.content_type == "application/json":
            params.update(json.loads(body))
        elif body:
            params.update(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
        for key in ("blocks", "view", "files", "attachments"):
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.StreamResponse:
        if self.down:
            return self._drop(request)
        method = request.match_info["method"]
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
        params = await self._params(request)
        call = Call(method, params, token, time.monotonic())
        limit = self._rate_limits.get(method)
        if limit and limit.remaining > 0:
            limit.remaining -= 1
            call.status = 429
            await self._record(call)
            return web.json_response({"ok": False, "error": "ratelimited"}, status=429,
                                     headers={"Retry-After": str(limit.retry_after)})
        call.response = self._answer(method, params, token)
        await self._record(call)
        return web.json_response(call.response)

    def _drop(self, request: web.Request) -> web.StreamResponse:
        """Being down: close the connection without an answer, like an outage."""
        if request.transport is not None:
            request.transport.close()
        return web.Response(status=503)

    def _answer(self, method: str, params: dict[str, Any], token: str | None) -> dict[str, Any]:
        if token != BOT_TOKEN:
            return {"ok": False, "error": "invalid_auth"}
        if method not in ALLOWED_METHODS:
            return {"ok": False, "error": "unknown_method"}
        if method in self._errors:
            return {"ok": False, "error": self._errors[method]}
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        return handler(params) if handler else {"ok": True}

    def _next_ts(self) -> str:
        return f"{1_700_000_000 + next(self._ts)}.000100"

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": "https://test.slack.com/", "team": "Test", "user": "bot",
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID}

    def _chat_postMessage(self, params: dict[str, Any]) -> dict[str, Any]:
        ts = self._next_ts()
        return {"ok": True, "channel": params.get("channel"), "ts": ts,
                "message": {"text": params.get("text"), "ts": ts, "bot_id": BOT_ID}}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": params.get("channel"), "ts": params.get("ts")}

    def _chat_postEphemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._next_ts()}

    def _view(self, params: dict[str, Any], view_id: str | None = None) -> dict[str, Any]:
        view = params.get("view") or {}
        return {"ok": True, "view": {**view, "id": view_id or f"V{next(self._ids):06d}",
                                     "hash": f"h{next(self._ids)}"}}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._view(params)

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._view(params, params.get("view_id"))

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._view(params)

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        user = params.get("user", "")
        found = self.users.get(user, {"id": user, "name": user.lower(), "is_bot": False})
        return {"ok": True, "user": found}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = params.get("usergroup", "")
        if group not in self.usergroups:
            return {"ok": False, "error": "no_such_subteam"}
        return {"ok": True, "users": self.usergroups[group]}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": {"id": params.get("channel"), "name": "general"}}

    def _files_getUploadURLExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            return {"ok": False, "error": "invalid_arguments"}
        file_id = f"F{next(self._ids):08d}"
        return {"ok": True, "file_id": file_id,
                "upload_url": f"http://{self.host}:{self.port}/upload/{file_id}"}

    def _files_completeUploadExternal(self, params: dict[str, Any]) -> dict[str, Any]:
        files = params.get("files") or []
        missing = [f["id"] for f in files if f.get("id") not in self.uploads]
        if not files or missing:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "files": [{"id": f["id"], "title": f.get("title")} for f in files]}

    async def _upload(self, request: web.Request) -> web.Response:
        if self.down:
            return self._drop(request)  # type: ignore[return-value]
        file_id = request.match_info["file_id"]
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            part = await reader.next()
            data = await part.read() if part is not None else b""  # type: ignore[union-attr]
        else:
            data = await request.read()
        self.uploads[file_id] = bytes(data)
        await self._record(Call("upload", {"file_id": file_id, "size": len(data)}, None,
                                time.monotonic()))
        return web.Response(text=f"OK - {len(data)}")

    # --- Socket Mode -----------------------------------------------------------------

    async def _connections_open(self, request: web.Request) -> web.StreamResponse:
        if self.down:
            return self._drop(request)
        auth = request.headers.get("Authorization", "")
        await self._record(Call("apps.connections.open", {}, auth.removeprefix("Bearer "),
                                time.monotonic()))
        if auth != f"Bearer {APP_TOKEN}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        return web.json_response({"ok": True, "url": f"ws://{self.host}:{self.port}/socket"})

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Socket Mode: say hello, forward queued envelopes, record the app's acks."""
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_json({"type": "hello", "num_connections": 1,
                            "debug_info": {"approximate_connection_time": 3600}})
        assert self.socket_envelopes is not None
        sender = asyncio.create_task(self._forward_envelopes(ws))
        try:
            async for msg in ws:
                if msg.type.name == "TEXT":
                    self.socket_acks.append(json.loads(msg.data))
                    await self._record(Call("socket.ack", json.loads(msg.data), None,
                                            time.monotonic()))
        finally:
            sender.cancel()
        return ws

    async def _forward_envelopes(self, ws: web.WebSocketResponse) -> None:
        assert self.socket_envelopes is not None
        while not ws.closed:
            envelope = await self.socket_envelopes.get()
            await ws.send_json(envelope)
