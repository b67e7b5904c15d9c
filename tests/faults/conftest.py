"""Fault tests: the real ``intake-bot serve`` process, a real capture relay, real clients.

Fixtures:

- ``relay``: a started :class:`bench.serve_process.CaptureRelay` on a free port.
- ``serves``: a factory ``serves(db_url, relay_port, name=..., file_size_limit=..., **env)``
  that starts a serve process in the test's folder (optionally with every file it writes
  capped, as on a full disk) and kills any still running at teardown.

Helpers send mail with real SMTP clients and read the database directly, beside the
process under test, so nothing is taken on the process's word.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiosmtplib
import pytest

from bench.corpus import Sample
from bench.serve_process import CaptureRelay, ServeProcess, free_port, serve_env

MAILBOX = "enquiries@example.org"
Serves = Callable[..., ServeProcess]  # the ``serves`` fixture's type


@pytest.fixture
def relay() -> Iterator[CaptureRelay]:
    capture = CaptureRelay().start()
    yield capture
    capture.stop()


@pytest.fixture
def serves(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    started: list[ServeProcess] = []

    def start(db_url: str, relay_port: int, name: str = "serve",
              file_size_limit: int | None = None, **extra: str) -> ServeProcess:
        env = serve_env(db_url, free_port(), relay_port, tmp_path, **extra)
        proc = ServeProcess(env, tmp_path, name, file_size_limit).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


@dataclass
class Delivery:
    accepted: list[str] = field(default_factory=list)  # Message-IDs answered 250
    codes: list[int] = field(default_factory=list)  # every other final reply code
    errors: int = 0  # connections lost mid-transaction (no reply)


async def _client(port: int, queue: asyncio.Queue[Sample], out: Delivery,
                  on_accept: Callable[[Delivery], None] | None) -> None:
    smtp: aiosmtplib.SMTP | None = None
    while not queue.empty():
        sample = queue.get_nowait()
        try:
            if smtp is None or not smtp.is_connected:
                smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, timeout=60)
                await smtp.connect()
            await smtp.sendmail("sender@school.example", [MAILBOX], sample.raw)
        except aiosmtplib.SMTPResponseException as exc:
            out.codes.append(exc.code)
            continue
        except (aiosmtplib.SMTPException, OSError):
            out.errors += 1
            smtp = None
            continue
        out.accepted.append(sample.message_id)
        if on_accept is not None:
            on_accept(out)
    if smtp is not None and smtp.is_connected:
        try:
            await smtp.quit()
        except (aiosmtplib.SMTPException, OSError):
            smtp.close()


def deliver(port: int, samples: list[Sample], clients: int = 4,
            on_accept: Callable[[Delivery], None] | None = None) -> Delivery:
    """Send each sample once with ``clients`` concurrent real SMTP clients; no retries."""

    async def run() -> Delivery:
        queue: asyncio.Queue[Sample] = asyncio.Queue()
        for sample in samples:
            queue.put_nowait(sample)
        out = Delivery()
        await asyncio.gather(*(_client(port, queue, out, on_accept) for _ in range(clients)))
        return out

    return asyncio.run(run())


def export(env: dict[str, str], cwd: Path, what: str = "messages") -> list[dict[str, Any]]:
    """``intake-bot messages export`` / ``cases export`` as JSON rows."""
    result = subprocess.run([sys.executable, "-m", "intake", what, "export"], env=env,
                            cwd=cwd, capture_output=True, text=True, timeout=60, check=True)
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def log_entries(proc: ServeProcess) -> list[dict[str, Any]]:
    return [json.loads(line) for line in proc.log().splitlines() if line.startswith("{")]
