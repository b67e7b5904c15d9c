"""The command-line contract (PRODUCT.md) where a caller's input is awkward: a byte order
mark, CRLF, blank lines, a writer that sends one line and waits, and dates near midnight
in British Summer Time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from click.testing import CliRunner

from intake.classify import numbered_batches
from intake.cli import cli

ITEM = {"id": "m1", "text": "The lead inspector was rude to my staff.", "subject": None,
        "channel": "email", "received_at": "2026-11-23T10:00:00"}


def classify(data: bytes) -> list[dict]:
    result = CliRunner().invoke(cli, ["classify"], input=data)
    assert result.exit_code == 0, result.output
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_classify_reads_a_byte_order_mark_crlf_and_blank_lines(settings: object) -> None:
    line = json.dumps(ITEM).encode()
    data = b"\xef\xbb\xbf" + line + b"\r\n\r\n   \r\n" + b"[1]\r\n" + line.replace(b"m1", b"m2")
    results = classify(data)
    assert [r["id"] for r in results] == ["m1", None, "m2"]
    assert "error" not in results[0] and results[0]["acknowledge_by"] == "2026-11-23"
    assert results[1]["line"] == 4  # blank lines count: the number is the input's line
    assert "error" not in results[2]


def test_a_byte_order_mark_is_only_dropped_before_the_first_line(settings: object) -> None:
    line = json.dumps(ITEM).encode()
    results = classify(line + b"\n\xef\xbb\xbf" + line + b"\n")
    assert "error" not in results[0]
    assert results[1] == {"id": None, "line": 2, "error": "not valid JSON"}


def reader(chunks: list[bytes]) -> Iterator[bytes]:
    yield from chunks
    while True:
        yield b""


def test_a_pause_in_the_input_ends_the_batch() -> None:
    """A writer that waits for each answer must get it before it sends the next line."""
    chunks = reader([b'{"a": 1}\n', b'{"b": 2}\n{"c"', b': 3}\n\n{"d": 4}'])
    batches = numbered_batches(lambda _n: next(chunks), ready=lambda: False)
    assert list(batches) == [[(1, b'{"a": 1}')], [(2, b'{"b": 2}')],
                             [(3, b'{"c": 3}'), (4, b"")], [(5, b'{"d": 4}')]]


def test_input_that_keeps_coming_is_read_in_full_batches() -> None:
    chunks = reader([b"x\n" * 5, b"y\n" * 5])
    batches = list(numbered_batches(lambda _n: next(chunks), ready=lambda: True, size=4))
    assert [len(b) for b in batches] == [4, 4, 2]
    assert batches[-1] == [(9, b"y"), (10, b"y")]


def test_cases_list_shows_the_london_received_date(cli_db: Path) -> None:
    form = cli_db / "call.json"
    form.write_text(json.dumps({
        "caller_name": "Ms Ada Obi", "phone": "0113 496 0000", "address": "2 Park Row, Leeds",
        "what_happened": "The inspector was rude to my deputy.",
        "call_time": "2026-07-02T00:30",  # 23:30 UTC on 1 July
    }))
    logged = CliRunner().invoke(cli, ["phone", "--json", str(form)])
    assert logged.exit_code == 0, logged.output
    listed = CliRunner().invoke(cli, ["cases", "list"])
    reference, received = listed.stdout.split("\t")[:2]
    assert reference == json.loads(logged.stdout)["reference"]
    assert received == "2026-07-02"
