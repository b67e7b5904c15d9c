"""The classification interface every channel's pipeline uses.

A classifier turns a message's text into a :class:`~intake.records.Classification`.
The shipped one is the trained spaCy pipeline in ``nlp/``; the keyword classifier in
``nlp.baseline`` is the fallback when no trained model is present, and the baseline that
evaluation compares against.

``intake-bot classify`` (PRODUCT.md, command-line contract) lives here too: it reads
stdin in batches that end when the writer pauses, so it answers a line at a time as well
as streaming a file; the per-line validation and batch classification are ``nlp.cli``'s.
"""

from __future__ import annotations

import json
import os
import select
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import IO, Protocol

import click

from intake.records import Channel, Classification


@dataclass(frozen=True)
class ClassifyInput:
    text: str
    subject: str | None
    channel: Channel
    received_at: datetime  # aware


class Classifier(Protocol):
    version: str

    def classify(self, item: ClassifyInput) -> Classification: ...

    def classify_many(self, items: Iterable[ClassifyInput]) -> list[Classification]: ...


@lru_cache(maxsize=1)
def get_classifier() -> Classifier:
    """The production classifier: the shipped spaCy model, loaded once per process."""
    from nlp.classifier import load_classifier

    return load_classifier()


# --- ``intake-bot classify``: JSON Lines on stdin ---------------------------------------

BOM = b"\xef\xbb\xbf"
BATCH_LINES = 512
READ_CHUNK = 1 << 16


def _fd_ready(fd: int) -> bool:
    """True when more input can be read from ``fd`` without waiting."""
    try:
        readable, _, _ = select.select([fd], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def numbered_batches(read: Callable[[int], bytes], ready: Callable[[], bool],
                     size: int = BATCH_LINES) -> Iterator[list[tuple[int, bytes]]]:
    """Raw input lines with their 1-based numbers, in batches.

    A batch is full (``size`` lines) while input keeps coming, and holds whatever has
    arrived when the writer pauses: a caller that writes one line and waits for its answer
    gets it, and a file still goes through in full batches. A UTF-8 byte order mark
    before the first line is dropped. Blank lines keep their numbers.
    """
    buf = bytearray()
    number = 0
    batch: list[tuple[int, bytes]] = []
    while data := read(READ_CHUNK):
        start = len(buf)
        buf += data
        cut = buf.rfind(b"\n", start)
        if cut < 0:
            continue
        for raw in bytes(buf[:cut]).split(b"\n"):
            number += 1
            batch.append((number, raw.removeprefix(BOM) if number == 1 else raw))
            if len(batch) >= size:
                yield batch
                batch = []
        del buf[:cut + 1]
        if batch and not ready():
            yield batch
            batch = []
    if buf:
        number += 1
        batch.append((number, bytes(buf).removeprefix(BOM) if number == 1 else bytes(buf)))
    if batch:
        yield batch


def stdin_batches(stream: IO[bytes]) -> Iterator[list[tuple[int, bytes]]]:
    """Batches from a real file descriptor when there is one, else from the stream."""
    try:
        fd = stream.fileno()
    except (OSError, ValueError, AttributeError):
        read = getattr(stream, "read1", stream.read)
        return numbered_batches(read, lambda: True)
    return numbered_batches(lambda n: os.read(fd, n), lambda: _fd_ready(fd))


def run_classify_stream(batches: Iterable[list[tuple[int, bytes]]], out: IO[str],
                        classifier: Classifier) -> int:
    """One output line per non-blank input line, in order, flushed per batch."""
    from nlp.cli import classify_batch, parse_line

    written = 0
    for batch in batches:
        lines = [parse_line(number, text) for number, raw in batch
                 if (text := raw.decode("utf-8", errors="replace")).strip()]
        for record in classify_batch(classifier, lines):
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            written += 1
        out.flush()
    return written


@click.command("classify")
def classify_command() -> None:
    """Classify JSON Lines messages from stdin; one JSON line per message on stdout."""
    try:
        run_classify_stream(stdin_batches(sys.stdin.buffer), sys.stdout, get_classifier())
    except BrokenPipeError:  # the reader went away (``| head``): nothing left to tell it
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
