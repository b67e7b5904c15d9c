"""Run axe-core in headless Chromium over the DevTools protocol (aiohttp's websocket client).

No driver binary: Chromium is started with ``--remote-debugging-port=0`` and a fresh profile,
its DevTools address is read from stderr, and each page is loaded from a file URL, given
axe-core's script and asked for its WCAG 2.0, 2.1 and 2.2 A and AA results.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

# axe-core tags WCAG 2.2 rules only at AA ("wcag22aa"); there is no "wcag22a" tag.
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome")
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--remote-debugging-address=127.0.0.1",
    "--remote-debugging-port=0",
]
RUN_AXE = (
    "axe.run(document, {runOnly: {type: 'tag', values: " + json.dumps(WCAG_TAGS) + "}})"
    ".then(r => ({violations: r.violations, incomplete: r.incomplete,"
    " passes: r.passes.map(p => p.id)}))"
)
_LISTENING = re.compile(r"DevTools listening on (ws://\S+)")


def find_chromium() -> str | None:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def find_axe() -> Path | None:
    """axe.min.js from AXE_CORE_JS, a local node_modules, or npm's global folder."""
    candidates = [os.environ.get("AXE_CORE_JS", "")]
    root = Path(__file__).resolve().parents[2]
    candidates.append(str(root / "node_modules" / "axe-core" / "axe.min.js"))
    npm = shutil.which("npm")
    if npm:
        found = subprocess.run([npm, "root", "-g"], capture_output=True, text=True,
                               timeout=30, check=False)
        candidates.append(str(Path(found.stdout.strip()) / "axe-core" / "axe.min.js"))
    return next((Path(c) for c in candidates if c and Path(c).is_file()), None)


class Browser:
    """One headless Chromium for a test session; :meth:`audit` checks one HTML page."""

    def __init__(self, chromium: str, axe_js: Path) -> None:
        self._profile = tempfile.mkdtemp(prefix="axe-profile-")
        self._pages = tempfile.mkdtemp(prefix="axe-pages-")
        self._axe = axe_js.read_text(encoding="utf-8")
        self._ids = itertools.count(1)
        self._events: list[dict[str, Any]] = []
        self._proc = subprocess.Popen(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={self._profile}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            text=True,
        )
        self.http = self._wait_for_devtools()

    def _wait_for_devtools(self, timeout: float = 30.0) -> str:
        assert self._proc.stderr is not None
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while time.monotonic() < deadline:
            line = self._proc.stderr.readline()
            if not line and self._proc.poll() is not None:
                break
            seen.append(line.strip())
            match = _LISTENING.search(line)
            if match:
                return "http://" + match.group(1).split("/")[2]
        self.close()
        raise RuntimeError("Chromium did not start DevTools: " + " | ".join(seen[-5:]))

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._profile, ignore_errors=True)
        shutil.rmtree(self._pages, ignore_errors=True)

    def audit(self, html: str, name: str) -> dict[str, Any]:
        """axe-core's results (violations, incomplete, passes) for one page."""
        page = Path(self._pages) / f"{name}.html"
        page.write_text(html, encoding="utf-8")
        return asyncio.run(self._audit(page.as_uri()))

    async def _audit(self, url: str) -> dict[str, Any]:
        self._events.clear()
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{self.http}/json/list") as resp:
                targets = await resp.json()
            page = next(t for t in targets if t.get("type") == "page")
            async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                await self._call(ws, "Page.enable")
                await self._call(ws, "Page.navigate", url=url)
                await self._wait_event(ws, "Page.loadEventFired")
                await self._evaluate(ws, self._axe)
                return await self._evaluate(ws, RUN_AXE)

    async def _evaluate(self, ws: aiohttp.ClientWebSocketResponse, expression: str) -> Any:
        reply = await self._call(ws, "Runtime.evaluate", expression=expression,
                                 awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in reply:
            raise RuntimeError(f"script failed: {reply['exceptionDetails'].get('text')}")
        return reply["result"].get("value")

    async def _call(self, ws: aiohttp.ClientWebSocketResponse, method: str,
                    **params: Any) -> dict[str, Any]:
        ident = next(self._ids)
        await ws.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = json.loads(await asyncio.wait_for(ws.receive_str(), 60))
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._events.append(message)

    async def _wait_event(self, ws: aiohttp.ClientWebSocketResponse, event: str) -> None:
        while True:
            if any(e.get("method") == event for e in self._events):
                self._events.clear()
                return
            self._events.append(json.loads(await asyncio.wait_for(ws.receive_str(), 60)))
