"""Acknowledgement letters: chosen by intent, addressed per channel, rendered from Jinja.

Public API used by the pipeline (``intake.steps.letter``) and the Slack app.
"""

from intake.letters.context import LetterInput
from intake.letters.dates import format_date, format_datetime
from intake.letters.facts import (
    LetterFacts,
    clear_letter_facts_cache,
    get_letter_facts,
    load_letter_facts,
)
from intake.letters.missing import MISSING_ITEMS, missing_information
from intake.letters.render import (
    LETTER_KINDS,
    RenderedLetter,
    letter_kind_for,
    render_letter,
    render_printable,
    templates_version,
)

__all__ = [
    "LETTER_KINDS",
    "MISSING_ITEMS",
    "LetterFacts",
    "LetterInput",
    "RenderedLetter",
    "clear_letter_facts_cache",
    "format_date",
    "format_datetime",
    "get_letter_facts",
    "letter_kind_for",
    "load_letter_facts",
    "missing_information",
    "render_letter",
    "render_printable",
    "templates_version",
]
