"""The SMTP edge, spoken to by real clients (smtplib and aiosmtplib) on loopback."""

from __future__ import annotations

import asyncio
import base64
import smtplib
import socket
import ssl
import subprocess
import time
from pathlib import Path

import aiosmtplib
import pytest
from sqlalchemy import func, select

from intake.cases.db import Store
from intake.cases.models import Base, Message
from intake.email.server import SmtpIntake
from intake.settings import Settings, override_settings

EML = Path(__file__).resolve().parents[1] / "fixtures" / "eml"
pytestmark = pytest.mark.timeout(60)

SIMPLE = (b"From: Jo Bloggs <jo@example.org>\r\nTo: enquiries@localhost\r\n"
          b"Subject: Complaint\r\nMessage-ID: <simple-1@example.org>\r\n\r\n"
          b"I wish to complain about the inspection.\r\n")


def client(server: SmtpIntake) -> smtplib.SMTP:
    return smtplib.SMTP("127.0.0.1", server.port, timeout=20)


def stored(store: Store) -> list[Message]:
    with store.session() as session:
        return list(session.execute(select(Message).order_by(Message.id)).scalars())


def test_message_is_stored_before_250(intake: tuple[SmtpIntake, list[int]],
                                      sqlite_store: Store) -> None:
    server, accepted = intake
    with client(server) as smtp:
        code, _ = smtp.ehlo()
        assert code == 250
        smtp.mail("jo@example.org")
        smtp.rcpt("Enquiries@Localhost")
        code, reply = smtp.data(SIMPLE)
    assert (code, reply) == (250, b"2.0.0 OK: message stored")
    (msg,) = stored(sqlite_store)
    assert accepted == [msg.id]
    assert msg.channel == "email" and msg.disposition == "pending"
    assert msg.external_id == "simple-1@example.org"
    assert msg.sender == "jo@example.org" and msg.recipients == ["enquiries@localhost"]
    assert msg.raw.replace(b"\r\n", b"\n") == SIMPLE.replace(b"\r\n", b"\n")


def test_size_is_advertised(intake: tuple[SmtpIntake, list[int]]) -> None:
    server, _ = intake
    with client(server) as smtp:
        smtp.ehlo()
        assert smtp.esmtp_features["size"] == "300000"


def test_no_open_relay_and_unknown_mailboxes_refused(
        intake: tuple[SmtpIntake, list[int]], sqlite_store: Store) -> None:
    server, _ = intake
    with client(server) as smtp:
        smtp.ehlo()
        smtp.mail("jo@example.org")
        assert smtp.rcpt("victim@example.com") == (550, b"5.7.1 Relaying denied")
        assert smtp.rcpt("nobody@localhost") == (550, b"5.1.1 No such mailbox here")
        smtp.rset()
        with pytest.raises(smtplib.SMTPRecipientsRefused):
            smtp.sendmail("jo@example.org", ["victim@example.com"], SIMPLE)
    assert stored(sqlite_store) == []


def test_two_hundred_recipients_store_one_message(
        intake: tuple[SmtpIntake, list[int]], sqlite_store: Store) -> None:
    server, _ = intake
    others = [f"person{i}@example.org" for i in range(198)]
    to_header = ", ".join(["enquiries@localhost", "complaints@localhost", *others])
    raw = f"From: jo@example.org\r\nTo: {to_header}\r\nSubject: many\r\n\r\nhello\r\n".encode()
    with client(server) as smtp:
        refused = smtp.sendmail("jo@example.org",
                                ["enquiries@localhost", "complaints@localhost", *others], raw)
    assert len(refused) == 198 and all(code == 550 for code, _ in refused.values())
    (msg,) = stored(sqlite_store)
    assert msg.recipients == ["enquiries@localhost", "complaints@localhost"]


def test_attachment_just_under_the_limit_is_accepted_and_over_is_refused(
        intake: tuple[SmtpIntake, list[int]], sqlite_store: Store) -> None:
    server, _ = intake
    limit = 300_000

    def with_attachment(size: int) -> bytes:
        body = base64.encodebytes(b"\x00" * size).replace(b"\n", b"\r\n")
        return (b"From: jo@example.org\r\nSubject: evidence\r\nMIME-Version: 1.0\r\n"
                b"Content-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\n"
                b"Content-Type: text/plain\r\n\r\nsee attached\r\n--XX\r\n"
                b"Content-Type: application/pdf; name=a.pdf\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\n" + body + b"--XX--\r\n")

    under = with_attachment(int(limit * 0.72))  # base64 grows it by a third, plus line ends
    over = with_attachment(int(limit * 0.76))
    assert len(under) < limit < len(over)
    with client(server) as smtp:
        assert smtp.sendmail("jo@example.org", ["enquiries@localhost"], under) == {}
        with pytest.raises(smtplib.SMTPSenderRefused) as declared:  # SIZE= on MAIL
            smtp.sendmail("jo@example.org", ["enquiries@localhost"], over)
        smtp.mail("jo@example.org")  # no SIZE declared: enforced while reading DATA
        smtp.rcpt("enquiries@localhost")
        counted = smtp.data(over)
    too_big = (552, b"5.3.4 Message too big for this system")
    assert (declared.value.smtp_code, declared.value.smtp_error) == too_big
    assert counted == too_big
    assert len(stored(sqlite_store)) == 1


def test_declared_size_over_the_limit_is_refused_at_mail(
        intake: tuple[SmtpIntake, list[int]]) -> None:
    server, _ = intake
    with client(server) as smtp:
        smtp.ehlo()
        code, _ = smtp.mail("jo@example.org", ["SIZE=999999"])
    assert code == 552


def test_a_100_kb_line_is_accepted(intake: tuple[SmtpIntake, list[int]],
                                   sqlite_store: Store) -> None:
    server, _ = intake
    line = b"<p>" + b"x" * 100_000 + b"</p>"
    raw = (b"From: jo@example.org\r\nContent-Type: text/html\r\nSubject: long\r\n\r\n"
           + line + b"\r\n")
    with client(server) as smtp:
        assert smtp.sendmail("jo@example.org", ["enquiries@localhost"], raw) == {}
    (msg,) = stored(sqlite_store)
    assert line in msg.raw


def test_empty_body_and_unparseable_bytes_are_stored_not_refused(
        intake: tuple[SmtpIntake, list[int]], sqlite_store: Store) -> None:
    server, _ = intake
    junk = (EML / "quarantine_not_mail.eml").read_bytes()
    with client(server) as smtp:
        smtp.sendmail("jo@example.org", ["enquiries@localhost"], b"Subject: x\r\n\r\n")
        smtp.sendmail("jo@example.org", ["enquiries@localhost"], junk)
    assert len(stored(sqlite_store)) == 2


def test_connection_dropped_mid_data_stores_nothing(
        intake: tuple[SmtpIntake, list[int]], sqlite_store: Store) -> None:
    server, _ = intake
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        reader = sock.makefile("rb")
        reader.readline()
        for command in (b"EHLO test", b"MAIL FROM:<jo@example.org>",
                        b"RCPT TO:<enquiries@localhost>", b"DATA"):
            sock.sendall(command + b"\r\n")
            while True:
                line = reader.readline()
                if line[3:4] != b"-":
                    break
        assert line.startswith(b"354")
        sock.sendall(b"From: jo@example.org\r\nSubject: half\r\n\r\nthe first half of")
    time.sleep(0.3)
    assert stored(sqlite_store) == []
    with client(server) as smtp:  # the server is still fine
        assert smtp.noop()[0] == 250


def drop_message_tables(store: Store) -> None:
    with store.engine.begin() as conn:
        conn.exec_driver_sql("DROP TABLE attachments")
        conn.exec_driver_sql("DROP TABLE messages")


def test_database_down_spools_then_replays(sqlite_store: Store, mail_settings: Settings,
                                           tmp_path: Path) -> None:
    accepted: list[int] = []
    with override_settings(**{**mail_settings.model_dump(), "smtp_spool": True}) as spooling:
        server = SmtpIntake(sqlite_store, spooling, on_accept=accepted.append)
    server.start()
    try:
        drop_message_tables(sqlite_store)
        with client(server) as smtp:
            assert smtp.sendmail("jo@example.org", ["enquiries@localhost"], SIMPLE) == {}
        spooled = list((tmp_path / "var" / "spool" / "new").glob("*.msg"))
        assert len(spooled) == 1 and spooled[0].read_bytes().endswith(SIMPLE)
        Base.metadata.create_all(sqlite_store.engine)  # the database is back
        deadline = time.monotonic() + 15
        while not accepted and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        server.stop()
    (msg,) = stored(sqlite_store)
    assert accepted == [msg.id] and msg.external_id == "simple-1@example.org"
    assert msg.sender == "jo@example.org" and msg.raw == SIMPLE
    assert not spooled[0].exists()


def test_store_and_spool_failure_answers_451_and_never_exception_text(
        sqlite_store: Store, mail_settings: Settings, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with override_settings(**{**mail_settings.model_dump(), "spool_dir": blocker,
                              "smtp_spool": True}) as broken:
        server = SmtpIntake(sqlite_store, broken, on_accept=lambda _id: None)
        server.start()
        try:
            drop_message_tables(sqlite_store)
            with client(server) as smtp:
                with pytest.raises(smtplib.SMTPDataError) as failed:
                    smtp.sendmail("jo@example.org", ["enquiries@localhost"], SIMPLE)
        finally:
            server.stop()
    assert failed.value.smtp_code == 451
    assert failed.value.smtp_error.startswith(b"4.3.0 ")
    assert b"messages" not in failed.value.smtp_error and b"Error" not in failed.value.smtp_error


def test_database_down_without_spool_answers_451(intake: tuple[SmtpIntake, list[int]],
                                                 sqlite_store: Store, tmp_path: Path) -> None:
    server, accepted = intake
    drop_message_tables(sqlite_store)
    with client(server) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as failed:
            smtp.sendmail("jo@example.org", ["enquiries@localhost"], SIMPLE)
    assert (failed.value.smtp_code, failed.value.smtp_error[:6]) == (451, b"4.3.0 ")
    assert accepted == [] and not (tmp_path / "var" / "spool").exists()


def test_an_unexpected_error_is_a_generic_temporary_reply(
        intake: tuple[SmtpIntake, list[int]], monkeypatch: pytest.MonkeyPatch) -> None:
    server, _ = intake

    def broken(raw: bytes) -> str:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr("intake.email.server.external_id_of", broken)
    with client(server) as smtp:
        with pytest.raises(smtplib.SMTPDataError) as failed:
            smtp.sendmail("jo@example.org", ["enquiries@localhost"], SIMPLE)
    assert failed.value.smtp_code == 451
    assert b"secret" not in failed.value.smtp_error


async def test_aiosmtplib_client_and_a_retried_delivery(
        intake: tuple[SmtpIntake, list[int]], sqlite_store: Store) -> None:
    server, _ = intake
    for _ in range(2):  # a client retry after a lost reply: both deliveries are rows
        errors, reply = await aiosmtplib.send(SIMPLE, sender="jo@example.org",
                                              recipients=["enquiries@localhost"],
                                              hostname="127.0.0.1", port=server.port,
                                              start_tls=False)
        assert errors == {} and reply.startswith("2.0.0")
    rows = await asyncio.to_thread(stored, sqlite_store)
    assert [m.external_id for m in rows] == ["simple-1@example.org"] * 2


def converse(port: int, lines: list[bytes], replies_after_data: int = 1) -> list[bytes]:
    """A raw SMTP/LMTP conversation; returns every reply line, as a transcript."""
    transcript: list[bytes] = []
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")

        def read_reply() -> None:
            while True:
                line = reader.readline().rstrip(b"\r\n")
                transcript.append(line)
                if line[3:4] != b"-":
                    return

        read_reply()
        in_data = False
        for line in lines:
            sock.sendall(line + b"\r\n")
            if in_data and line != b".":
                continue  # message content gets no reply
            for _ in range(replies_after_data if line == b"." else 1):
                read_reply()
            in_data = line.upper() == b"DATA"
    return transcript


def test_lmtp_mode_answers_per_recipient(sqlite_store: Store, mail_settings: Settings) -> None:
    with override_settings(**{**mail_settings.model_dump(), "smtp_lmtp": True}) as lmtp:
        server = SmtpIntake(sqlite_store, lmtp, on_accept=lambda _id: None)
        server.start()
        try:
            transcript = converse(server.port, [
                b"LHLO relay.example.org", b"MAIL FROM:<jo@example.org>",
                b"RCPT TO:<enquiries@localhost>", b"RCPT TO:<complaints@localhost>",
                b"RCPT TO:<elsewhere@example.com>", b"DATA",
                *SIMPLE.rstrip(b"\r\n").split(b"\r\n"), b".", b"QUIT"],
                replies_after_data=2)
        finally:
            server.stop()
    codes = [line[:3] for line in transcript if line[3:4] != b"-"]
    assert codes == [b"220", b"250", b"250", b"250", b"250", b"550", b"354", b"250", b"250",
                     b"221"]
    (msg,) = stored(sqlite_store)
    assert msg.recipients == ["enquiries@localhost", "complaints@localhost"]


def test_starttls_is_configuration(sqlite_store: Store, mail_settings: Settings,
                                   tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    with override_settings(**{**mail_settings.model_dump(), "smtp_tls_cert": cert,
                              "smtp_tls_key": key}) as tls:
        server = SmtpIntake(sqlite_store, tls, on_accept=lambda _id: None)
        server.start()
        try:
            context = ssl.create_default_context(cafile=str(cert))
            context.check_hostname = False
            with client(server) as smtp:
                smtp.ehlo()
                assert smtp.has_extn("starttls")
                smtp.starttls(context=context)
                assert smtp.sendmail("jo@example.org", ["enquiries@localhost"], SIMPLE) == {}
        finally:
            server.stop()
    with sqlite_store.session() as session:
        assert session.scalar(select(func.count()).select_from(Message)) == 1


def test_stop_refuses_new_connections(sqlite_store: Store, mail_settings: Settings) -> None:
    server = SmtpIntake(sqlite_store, mail_settings, on_accept=lambda _id: None)
    server.start()
    port = server.port
    server.stop()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
