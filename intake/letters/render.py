"""Render letters from the Jinja templates in ``templates/letters/``.

One base layout per format (``base.txt.j2``, ``base.html.j2``) and one block per situation;
each kind of letter is a short template that picks the blocks. The same kind and block
templates serve both formats: two environments load them, one plain and one autoescaped,
each with its own formatting macros (``format/text.j2``, ``format/html.j2``) as ``m``.
Both use ``StrictUndefined``, so a missing value stops a letter instead of leaving a gap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, UndefinedError, pass_environment
from jinja2.filters import do_wordwrap
from markupsafe import Markup

from intake.letters.context import LetterInput, build_context, join_names
from intake.letters.dates import local_date
from intake.letters.facts import LetterFacts, get_letter_facts

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
LETTERS_DIR = TEMPLATES_DIR / "letters"

LETTER_KINDS: tuple[str, ...] = (
    "receipt", "acknowledgement", "withhold", "escalation", "information_request",
    "provider_concern", "enquiry", "progress_update",
)
_KIND_FOR_INTENT = {
    "complaint": "acknowledgement",
    "withhold_publication": "withhold",
    "escalation": "escalation",
    "information_request": "information_request",
    "provider_concern": "provider_concern",
    "enquiry": "enquiry",
}
TEXT_WIDTH = 72
_BLANK_LINES = re.compile(r"\n{3,}")
_HTML_BLANK_LINES = re.compile(r"\n\s*\n+")


def letter_kind_for(intent: str) -> str:
    """The single letter an intent gets (RULES.md section 4; PRODUCT.md, Letters)."""
    try:
        return _KIND_FOR_INTENT[intent]
    except KeyError:
        known = ", ".join(sorted(_KIND_FOR_INTENT))
        raise ValueError(f"no letter for intent {intent!r} (known: {known})") from None


@lru_cache(maxsize=1)
def templates_version() -> str:
    """The version the templates carry (``templates/letters/VERSION``), read once.

    Read once like the templates themselves (see ``_environment``): a process renders
    with the templates and the version it started with.
    """
    return (LETTERS_DIR / "VERSION").read_text(encoding="utf-8").strip()


def squash(value: str) -> str:
    """Collapse the template's line breaks and indentation into single spaces."""
    squashed = " ".join(str(value).split())
    return Markup(squashed) if isinstance(value, Markup) else squashed


def cite(procedure: dict[str, Any], *keys: str) -> str:
    """'Ofsted's complaints policy, paragraph 28' (or 'paragraphs 29 and 32', 'Annex D').

    Letters cite procedures by title and paragraph, never by file name. A key the facts do
    not have raises, like a missing template variable.
    """
    refs: list[str] = []
    for key in keys:
        ref = procedure["p"].get(key)
        if ref is None:
            raise UndefinedError(f"{procedure['title']!r} has no paragraph {key!r}")
        if ref not in refs:
            refs.append(ref)
    annexes = [r for r in refs if not r[:1].isdigit()]
    numbers = [r for r in refs if r[:1].isdigit()]
    parts = []
    if numbers:
        word = "paragraph" if len(numbers) == 1 else "paragraphs"
        parts.append(f"{word} {join_names(numbers)}")
    parts.extend(annexes)
    return f"{procedure['title']}, {join_names(parts)}"


def sentence(value: str) -> str:
    """Capitalise the first letter only, for a name that starts a sentence."""
    text = str(value)
    out = text[:1].upper() + text[1:]
    return Markup(out) if isinstance(value, Markup) else out


@pass_environment
def wordwrap(environment: Environment, s: str, width: int = 79, break_long_words: bool = True,
             wrapstring: str | None = None, break_on_hyphens: bool = True) -> str:
    """Jinja's ``wordwrap`` with the same output, filled without textwrap where it can be.

    Every paragraph of a text letter is wrapped, and textwrap was the largest single cost
    of rendering one. A squashed paragraph (words joined by single spaces) with long words
    kept whole and hyphens not broken is what textwrap fills greedily, word by word, which
    ``_fill`` does directly; any other text or option goes to Jinja's own filter.
    """
    if type(s) is not str or break_long_words or break_on_hyphens or width <= 0:
        return do_wordwrap(environment, s, width, break_long_words, wrapstring,
                           break_on_hyphens)
    newline = environment.newline_sequence if wrapstring is None else wrapstring
    paragraphs = []
    for line in s.splitlines():
        words = line.split(" ")
        if words != line.split():  # other whitespace, or spaces not single: textwrap's case
            return do_wordwrap(environment, s, width, break_long_words, wrapstring,
                               break_on_hyphens)
        paragraphs.append(newline.join(_fill(words, width)))
    return newline.join(paragraphs)


def _fill(words: list[str], width: int) -> list[str]:
    """Greedy fill: a word goes on the line if it fits, a longer one stands alone."""
    lines: list[str] = []
    start, length = 0, len(words[0])  # the current line: words[start:i], its length
    for i in range(1, len(words)):
        size = len(words[i])
        if length + 1 + size <= width:
            length += 1 + size
        else:
            lines.append(" ".join(words[start:i]))
            start, length = i, size
    lines.append(" ".join(words[start:]))
    return lines


def _environment(fmt: str) -> Environment:
    # auto_reload off: templates change with a release, and checking every template and
    # include for changes on disk cost a file stat each, some twenty-five per letter.
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        auto_reload=False,
        undefined=StrictUndefined,
        autoescape=fmt == "html",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["squash"] = squash
    env.filters["wordwrap"] = wordwrap
    env.filters["sentence"] = sentence
    env.globals["layout"] = "letters/base.txt.j2" if fmt == "text" else "letters/base.html.j2"
    env.globals["text_width"] = TEXT_WIDTH
    env.globals["cite"] = cite
    env.globals["join_names"] = join_names
    env.globals["m"] = env.get_template(f"letters/format/{fmt}.j2").module
    return env


@lru_cache(maxsize=2)
def environment(fmt: str) -> Environment:
    """The Jinja environment for ``text`` or ``html`` (autoescaped), built once."""
    if fmt not in ("text", "html"):
        raise ValueError(f"unknown letter format {fmt!r}")
    return _environment(fmt)


def _tidy_text(text: str) -> str:
    """Trailing spaces off, at most one blank line between paragraphs."""
    lines = [line.rstrip() for line in text.splitlines()]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip() + "\n"


def _tidy_html(html: str) -> str:
    return _HTML_BLANK_LINES.sub("\n", html).strip() + "\n"


def _render(fmt: str, kind: str, context: dict[str, Any]) -> str:
    template = environment(fmt).get_template(f"letters/kinds/{kind}.j2")
    out = template.render(context)
    return _tidy_text(out) if fmt == "text" else _tidy_html(out)


def _context(kind: str, data: LetterInput, facts: LetterFacts | None, *, for_post: bool,
             large_print: bool, letter_date: date | None) -> dict[str, Any]:
    if kind not in LETTER_KINDS:
        raise ValueError(f"unknown letter kind {kind!r} (known: {', '.join(LETTER_KINDS)})")
    facts = facts or get_letter_facts()
    context = build_context(kind, data, facts, for_post=for_post, large_print=large_print,
                            letter_date=letter_date)
    context["template_version"] = f"letters-{templates_version()}+facts-{facts.version}"
    context["rule_version"] = data.deadlines.rule_version
    return context


@dataclass(frozen=True)
class RenderedLetter:
    """One letter in both formats, with the template version that produced it."""

    kind: str
    subject: str  # includes the case reference, e.g. "Your complaint: CMP-2026-00042"
    text: str
    html: str
    template_version: str


def render_letter(kind: str, data: LetterInput, *, large_print: bool = False,
                  facts: LetterFacts | None = None) -> RenderedLetter:
    """The email letter of ``kind`` for a case: plain text and autoescaped HTML."""
    context = _context(kind, data, facts, for_post=False, large_print=large_print,
                       letter_date=None)
    return RenderedLetter(kind=kind, subject=context["subject_line"],
                          text=_render("text", kind, context),
                          html=_render("html", kind, context),
                          template_version=context["template_version"])


def render_printable(data: LetterInput, kind: str, *, large_print: bool = False,
                     letter_date: date | None = None,
                     facts: LetterFacts | None = None) -> str:
    """A standalone HTML letter for print and post, with both address blocks.

    For callers with no email (PRODUCT.md, phone intake). ``letter_date`` defaults to
    today in local time; replies are asked for by post or phone, not by email reply.
    """
    when = letter_date or local_date(datetime.now(UTC))
    context = _context(kind, data, facts, for_post=True, large_print=large_print,
                       letter_date=when)
    return _render("html", kind, context)
