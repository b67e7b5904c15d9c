"""The formatting macros in Python (intake/letters/formats.py) give what the templates'
own macros (templates/letters/format/*.j2) give, byte for byte and with the same type."""

from __future__ import annotations

from typing import Any

import pytest
from markupsafe import Markup

from intake.letters.formats import HtmlFormat, TextFormat
from intake.letters.render import environment

TEXTS: list[Any] = [
    "What happens next",
    "Tom & Jerry's <b>school</b> \"quoted\"",
    Markup("<em>already</em> markup"),
    "",
    None,
    42,
]
BODIES = [
    "one short line",
    "\n  An indented paragraph, as a template's call block gives it, with several lines\n"
    "  and words enough to wrap at the text width more than once: a long sentence that "
    "goes on past seventy-two characters, then on again until it needs a third line.\n",
    "a-very-long-hyphenated-word-that-is-longer-than-the-whole-text-width-of-a-letter-line "
    "then short ones",
    "tabs\tand  double  spaces & <angle> brackets",
    "",
]
CALLERS = ["p", "ul", "li", "panel"]
ARGS = ["h1", "h2", "strong"]


def _pair(fmt: str) -> tuple[Any, Any]:
    ours = environment(fmt).globals["m"]
    assert isinstance(ours, TextFormat if fmt == "text" else HtmlFormat)
    return ours, ours._module  # noqa: SLF001 - the template module it stands in for


@pytest.mark.parametrize("fmt", ["text", "html"])
@pytest.mark.parametrize("name", CALLERS)
@pytest.mark.parametrize("body", BODIES)
def test_call_block_macros_match_the_templates(fmt: str, name: str, body: str) -> None:
    ours, theirs = _pair(fmt)
    given = Markup(body) if fmt == "html" else body  # a call block's own output type
    expected = getattr(theirs, name)(caller=lambda: given)
    got = getattr(ours, name)(caller=lambda: given)
    assert (type(got), got) == (type(expected), expected)


@pytest.mark.parametrize("fmt", ["text", "html"])
@pytest.mark.parametrize("name", ARGS)
@pytest.mark.parametrize("text", [t for t in TEXTS if t is not None and t != 42])
def test_heading_and_strong_match_the_templates(fmt: str, name: str, text: Any) -> None:
    ours, theirs = _pair(fmt)
    expected, got = getattr(theirs, name)(text), getattr(ours, name)(text)
    assert (type(got), got) == (type(expected), expected)


@pytest.mark.parametrize("fmt", ["text", "html"])
@pytest.mark.parametrize("text", TEXTS)
def test_links_match_the_templates(fmt: str, text: Any) -> None:
    ours, theirs = _pair(fmt)
    for url in ("https://www.gov.uk/x?a=1&b=<2>", Markup("https://example.org/")):
        expected, got = theirs.link(text, url), ours.link(text, url)
        assert (type(got), got) == (type(expected), expected)


def test_other_macros_are_the_templates_own() -> None:
    for fmt in ("text", "html"):
        ours, theirs = _pair(fmt)
        assert ours.contact is theirs.contact
