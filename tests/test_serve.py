"""`intake-bot serve` as a real process: start-up checks, readiness, a complaint end to end
through SMTP to an acknowledgement captured by a real SMTP server, and a clean stop."""

from __future__ import annotations

import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest

from tests.support import CaptureHandler, capture_relay, free_port

BIN = [sys.executable, "-m", "intake"]


@pytest.fixture
def relay() -> Iterator[tuple[CaptureHandler, int]]:
    with capture_relay() as relay:
        yield relay


def base_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("INTAKE_", "SLACK_"))}
    env.update(INTAKE_DATABASE_URL=f"sqlite:///{tmp_path / 'intake.db'}",
               INTAKE_SMTP_PORT=str(free_port()), INTAKE_MAILBOXES="enquiries@example.org",
               INTAKE_WORKER_POLL_SECONDS="0.2", INTAKE_OUTBOX_BACKOFF_SECONDS="0.5")
    env.update(extra)
    return env


def run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(BIN + args, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def test_bad_setting_exits_2_naming_it(tmp_path: Path) -> None:
    result = run(["serve"], base_env(tmp_path, INTAKE_SMTP_PORT="smtp"), tmp_path)
    assert result.returncode == 2
    assert "INTAKE_SMTP_PORT" in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_incomplete_slack_settings_exit_2_naming_what_is_missing(tmp_path: Path) -> None:
    result = run(["serve"], base_env(tmp_path, SLACK_BOT_TOKEN="xoxb-1"), tmp_path)
    assert result.returncode == 2
    assert "SLACK_SIGNING_SECRET" in result.stderr


def _wait_for(predicate: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.1)
    return False


def _complaint() -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "Jo Head <head@school.example>"
    msg["To"] = "enquiries@example.org"
    msg["Subject"] = "Complaint about our inspection"
    msg["Message-ID"] = "<serve-test-1@school.example>"
    msg.set_content(
        "Dear Ofsted,\n\nI am the headteacher of Hillside Primary (URN 123456). The lead "
        "inspector was rude to my staff and ignored the evidence we gave about reading, then "
        "graded us requires improvement. The report was published on 2 November 2026.\n\n"
        "I want the judgement reviewed. I raised it with the lead inspector on the day.\n"
        "I am available on weekday mornings on 0161 496 0000.\n\nJo Head\nHeadteacher\n")
    return msg


def test_serve_takes_mail_answers_it_and_stops_cleanly(
        tmp_path: Path, relay: tuple[CaptureHandler, int]) -> None:
    capture, relay_port = relay
    env = base_env(tmp_path, INTAKE_RELAY_PORT=str(relay_port), INTAKE_LOG_LEVEL="DEBUG")
    smtp_port = int(env["INTAKE_SMTP_PORT"])
    proc = subprocess.Popen(BIN + ["serve"], env=env, cwd=tmp_path, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    try:
        assert _wait_for(lambda: _listening(smtp_port)), "SMTP intake never listened"
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.send_message(_complaint())
        assert _wait_for(lambda: len(capture.received) >= 1), "no acknowledgement relayed"
        first = capture.received[0]
        mail_from, rcpts, data = first.mail_from, first.rcpt_tos, first.raw
        assert mail_from in ("", "<>")  # null envelope sender (RFC 3834)
        assert rcpts == ["head@school.example"]
        assert b"Auto-Submitted: auto-replied" in data
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    logs = [json.loads(line) for line in proc.stderr.read().splitlines()  # type: ignore[union-attr]
            if line.startswith("{")]
    messages = " | ".join(entry["msg"] for entry in logs)
    assert "intake ready on 127.0.0.1:" in messages
    assert "outbox worker ready" in messages
    # Logs carry references, never bodies or addresses: nothing for the formatter's own
    # masking to catch either ("[email]"/"[phone]" would mean code tried to log one).
    everything = proc_stderr_text(logs)
    for private in ("head@school.example", "0161 496 0000", "[email]", "[phone]",
                    "rude to my staff", "Hillside", "Jo Head"):
        assert private not in everything
    exported = run(["messages", "export"], env, tmp_path)
    [row] = [json.loads(line) for line in exported.stdout.splitlines()]
    assert row["disposition"] == "new_case" and row["case"]


def proc_stderr_text(logs: list[dict[str, str]]) -> str:
    return json.dumps(logs, ensure_ascii=False)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_bad_rules_file_stops_start_up_naming_the_field(tmp_path: Path) -> None:
    rules = tmp_path / "rules.toml"
    rules.write_text("[regimes.jtai.rules.JTAI.respond]\namount = 0\n")
    result = run(["serve"], base_env(tmp_path, INTAKE_RULES_FILE=str(rules)), tmp_path)
    assert result.returncode == 2
    assert "amount" in result.stderr and "Traceback" not in result.stderr


def test_pipeline_runs_in_worker_processes_that_stop_with_serve(
        tmp_path: Path, relay: tuple[CaptureHandler, int]) -> None:
    env = base_env(tmp_path, INTAKE_RELAY_PORT=str(relay[1]), INTAKE_PIPELINE_PROCESSES="2")
    proc = subprocess.Popen(BIN + ["serve"], env=env, cwd=tmp_path, stderr=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, text=True)
    try:
        smtp_port = int(env["INTAKE_SMTP_PORT"])
        assert _wait_for(lambda: _listening(smtp_port))
        with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
            client.send_message(_complaint())
        assert _wait_for(lambda: len(relay[0].received) >= 1)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    log = proc.stderr.read()  # type: ignore[union-attr]
    assert "pipeline ready: 2 worker process(es)" in log
    pids = [int(p) for p in re.findall(r"pipeline worker \d ready \(pid (\d+)\)", log)]
    assert len(pids) == 2 and proc.pid not in pids
    for pid in pids:  # the workers stopped with serve
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_a_pipeline_worker_whose_parent_died_before_it_started_exits(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from intake.settings import load_settings
    from intake.worker_processes import CTX, _child

    for key in list(os.environ):
        if key.startswith(("INTAKE_", "SLACK_")):
            monkeypatch.delenv(key)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # the serve process that spawned the worker, already dead
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'intake.db'}",
                             worker_poll_seconds=0.2)
    wake, stop = CTX.Event(), CTX.Event()  # kept alive until the child has them
    worker = CTX.Process(target=_child, args=(settings.model_dump(), wake, stop, 0,
                                              gone.pid))
    worker.start()
    worker.join(60)
    if worker.is_alive():
        worker.kill()
    assert worker.exitcode == 0
