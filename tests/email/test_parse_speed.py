"""The parser's shortcuts read mail exactly as the email package does.

``read_mail`` runs the stdlib's feed parser with a cheaper line-end test, the SMTP edge
reads the Message-ID from the header block alone, and bare MIME header values are parsed
once per process: each is checked here against the plain stdlib reading, on the public
corpus, the benchmark's mix and those messages with their line ends changed or cut short.
"""

from __future__ import annotations

import random
from email import message_from_bytes, policy
from email.message import Message
from email.parser import BytesHeaderParser
from email.policy import compat32
from pathlib import Path
from typing import Any

import pytest

from bench.corpus import make_messages
from intake.email import parse
from intake.email.parse import external_id_of, read_mail

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
ORIGINALS = [path.read_bytes() for path in sorted(FIXTURES.rglob("*.eml"))] + [
    s.raw for s in make_messages(40, seed=5, tag="speed")]


def variants(raws: list[bytes]) -> list[bytes]:
    """Each message as sent, with other line ends, without its last line end, cut short."""
    rng = random.Random(3)
    out = list(raws)
    for raw in raws:
        out += [raw.replace(b"\r\n", b"\n"), raw.replace(b"\r\n", b"\r"),
                raw.replace(b"\n", b"\r\n"), raw.rstrip(b"\r\n"), raw + b"\r",
                raw[:rng.randrange(1, len(raw) + 1)]]
    return out


MESSAGES = variants(ORIGINALS)


def tree(msg: Message) -> list[Any]:
    """Everything the parser decides: headers, payloads, preamble, epilogue, defects."""
    payload = msg._payload  # type: ignore[attr-defined]
    return [type(msg).__name__, msg.get_unixfrom(), list(msg.raw_items()), msg.preamble,
            msg.epilogue, [repr(d) for d in msg.defects], msg.get_default_type(),
            [tree(p) for p in payload] if isinstance(payload, list) else payload]


@pytest.mark.parametrize("mail_policy", [policy.default, compat32])
def test_read_mail_builds_the_tree_message_from_bytes_builds(mail_policy: Any) -> None:
    differ = [i for i, raw in enumerate(MESSAGES)
              if tree(read_mail(raw, mail_policy))
              != tree(message_from_bytes(raw, policy=mail_policy))]
    assert len(MESSAGES) > 1000 and not differ


def test_the_line_buffer_ends_where_the_stdlib_buffer_ends() -> None:
    from email.feedparser import NLCRE, BufferedSubFile, NeedMoreData

    def drain(buffer: Any) -> list[Any]:
        out = []
        for line in buffer:
            out.append(line)
            if line is NeedMoreData:
                break
        return out + [list(buffer._lines)]

    text = "a\r\nb\n--sep\r\n\nc\r"
    for closed in (True, False):
        for matchers in ([], [NLCRE.match], [lambda line: line.startswith("--sep")]):
            for put_back in ("", "x\n", None):
                theirs, mine = BufferedSubFile(), parse._Lines()
                for buffer in (theirs, mine):
                    buffer.push(text)
                    if put_back is not None:
                        buffer.unreadline(put_back)
                    for matcher in matchers:
                        buffer.push_eof_matcher(matcher)
                    if closed:
                        buffer.close()
                assert drain(mine) == drain(theirs)


def test_the_line_end_test_matches_the_stdlib_pattern() -> None:
    from email.feedparser import NLCRE_eol

    tail = parse._TailLineEnd()
    for text in ("", "a", "\n", "\r", "\r\n", "\n\r", "ab\r\n", "ab\n\n", "ab\r\r", "x" * 90):
        mine, theirs = tail.search(text), NLCRE_eol.search(text)
        assert (mine and (mine.span(), mine.group(0))) == \
            (theirs and (theirs.span(), theirs.group(0)))


def test_header_block_gives_the_headers_of_the_whole_message() -> None:
    crafted = [b"Subject: a\r\r\nMessage-ID: <x@y>\r\n\r\nbody", b"\r\n\r\nMessage-ID: <x@y>\r\n",
               b"Message-ID: <x@y>", b"Message-ID:\n <folded@y>\n\nMessage-ID: <b@y>\n",
               b"From nobody\nMessage-ID: <m@y>\nbroken line\n\nMessage-ID: <n@y>\n"]
    for raw in MESSAGES + crafted:
        whole = BytesHeaderParser(policy=compat32).parsebytes(raw)
        block = BytesHeaderParser(policy=compat32).parsebytes(parse._header_block(raw))
        assert list(block.raw_items()) == list(whole.raw_items())
    assert external_id_of(crafted[3]) == "folded@y"


def test_bare_mime_values_are_shared_and_parse_as_fresh_ones() -> None:
    for raw in ORIGINALS[-40:]:
        parse.parse_email(raw)
    shared = dict(parse._shared_parsed)
    assert shared and len(shared) <= parse._SHARED_MAX
    for (name, value), header in shared.items():
        assert name.lower() in parse._SHARED_HEADERS
        assert "boundary" not in value.lower() and "name" not in value.lower()
        fresh = policy.default.header_fetch_parse(name, value)
        # the registry makes a class per parse: the same bases, not the same class
        assert (str(header), type(header).__bases__, [repr(d) for d in header.defects]) == \
            (str(fresh), type(fresh).__bases__, [repr(d) for d in fresh.defects])
        assert dict(getattr(header, "params", {})) == dict(getattr(fresh, "params", {}))


def test_values_with_a_boundary_or_a_file_name_stay_with_their_message() -> None:
    mine = parse._policy()
    mine.header_fetch_parse("Content-Type", 'multipart/mixed; boundary="only-this-mail"')
    mine.header_fetch_parse("Content-Type", 'application/pdf; name="Jo Bloggs.pdf"')
    mine.header_fetch_parse("Content-Type", "text/plain; charset=utf-8")
    assert not any("only-this-mail" in v or "Bloggs" in v for _, v in parse._shared_parsed)
    assert ("Content-Type", "text/plain; charset=utf-8") in parse._shared_parsed
