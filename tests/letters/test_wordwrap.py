"""The letters' ``wordwrap`` filter writes exactly what Jinja's own filter writes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from jinja2.filters import do_wordwrap

from intake.letters.render import environment, wordwrap

ENV = environment("text")
# Words of letters and of what people send: hyphens, long URLs, non-breaking and other
# Unicode spaces, tabs, line breaks, and spaces doubled or at either end.
WORDS = st.sampled_from(["a", "the", "inspection", "well-being", "CMP-2026-00042", "—", "x" * 40,
                         "https://www.gov.uk/government/organisations/ofsted/about/complaints",
                         "caf\u00e9", "\u00a0", "a\u00a0b", "\t", "\u2028", ""])
SEPARATORS = st.sampled_from([" ", " ", " ", "  ", "\n", "\r\n", "\t", "\u3000"])
TEXTS = st.lists(st.tuples(WORDS, SEPARATORS), max_size=40).map(
    lambda pairs: "".join(word + sep for word, sep in pairs))
OPTIONS = st.fixed_dictionaries({
    "width": st.integers(min_value=1, max_value=90),
    "break_long_words": st.booleans(),
    "break_on_hyphens": st.booleans(),
    "wrapstring": st.sampled_from([None, "\n  ", "<br>"]),
})


@settings(max_examples=400, deadline=None)
@given(text=TEXTS, options=OPTIONS)
def test_same_lines_as_jinja_for_any_text_and_options(text: str,
                                                      options: dict[str, object]) -> None:
    assert wordwrap(ENV, text, **options) == do_wordwrap(ENV, text, **options)


@settings(max_examples=400, deadline=None)
@given(text=TEXTS, width=st.integers(min_value=1, max_value=90))
def test_same_lines_for_squashed_paragraphs_as_the_letters_wrap_them(text: str,
                                                                     width: int) -> None:
    squashed = " ".join(text.split())
    for prefix in ("", "- "):
        value = prefix + squashed
        assert wordwrap(ENV, value, width, False, None, False) == \
            do_wordwrap(ENV, value, width, False, None, False)


def test_a_paragraph_is_filled_greedily_and_long_words_stand_alone() -> None:
    text = "one two three " + "x" * 12 + " four five"
    assert wordwrap(ENV, text, 10, False, None, False) == \
        "one two\nthree\n" + "x" * 12 + "\nfour five"


def test_the_environment_uses_it() -> None:
    assert ENV.filters["wordwrap"] is wordwrap
    assert environment("html").filters["wordwrap"] is wordwrap
