"""HTML letters meet WCAG 2.2 AA in what can be checked from their structure.

Language set (3.1.1), one h1 and headings in order (1.3.1, 2.4.6), links that make sense
out of context (2.4.4), text contrast at least 4.5:1 and borders at least 3:1 computed with
the WCAG relative-luminance formula (1.4.3, 1.4.11), links underlined so that colour is
not the only cue (1.4.1), and a large-print variant.
"""

from __future__ import annotations

import re
from datetime import date
from html.parser import HTMLParser

import pytest

from intake.letters import render_letter, render_printable
from tests.letters.cases import golden_cases

VAGUE_LINK_TEXTS = {"click here", "here", "read more", "more", "link", "this link", "this page",
                    "website", "find out more"}


class _Structure(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.lang: str | None = None
        self.headings: list[int] = []
        self.links: list[str] = []
        self.styles: list[str] = []
        self.body_classes: list[str] = []
        self._in: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "html":
            self.lang = attributes.get("lang")
        if tag == "body":
            self.body_classes = (attributes.get("class") or "").split()
        if re.fullmatch(r"h[1-6]", tag):
            self.headings.append(int(tag[1]))
        if tag in ("a", "style"):
            self._in, self._text = tag, []

    def handle_data(self, data: str) -> None:
        if self._in:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == self._in:
            text = " ".join("".join(self._text).split())
            (self.links if tag == "a" else self.styles).append(text)
            self._in = None


def structure(html: str) -> _Structure:
    parser = _Structure()
    parser.feed(html)
    return parser


def _luminance(hex_colour: str) -> float:
    value = hex_colour.lstrip("#")
    if len(value) == 3:
        value = "".join(ch * 2 for ch in value)
    channels = [int(value[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2.2 contrast ratio of two sRGB colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def css_rules(css: str) -> list[tuple[str, dict[str, str]]]:
    """(selector, declarations) for every innermost rule, including those inside @media."""
    rules = []
    for selector, body in re.findall(r"([^{}]+)\{([^{}]*)\}", css):
        declarations = {}
        for item in body.split(";"):
            if ":" in item:
                key, value = item.split(":", 1)
                declarations[key.strip()] = value.strip()
        rules.append((selector.strip(), declarations))
    return rules


def _html(name: str, printable: bool) -> str:
    case = golden_cases()[name]
    if printable:
        return render_printable(case.data, case.kind, letter_date=date(2026, 11, 24))
    return render_letter(case.kind, case.data, large_print=case.large_print).html


def test_contrast_formula_matches_known_values() -> None:
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)
    assert contrast("#1d70b8", "#ffffff") == pytest.approx(5.17, abs=0.01)


@pytest.mark.parametrize("printable", [False, True], ids=["email", "printable"])
@pytest.mark.parametrize("name", sorted(golden_cases()))
def test_letter_structure_is_accessible(name: str, printable: bool) -> None:
    page = structure(_html(name, printable))
    assert page.lang == "en-GB"
    assert page.headings.count(1) == 1 and page.headings[0] == 1
    for before, after in zip(page.headings, page.headings[1:], strict=False):
        assert after <= before + 1, f"heading jumps from h{before} to h{after}"
    for text in page.links:
        assert text and text.lower() not in VAGUE_LINK_TEXTS, f"vague link text {text!r}"
        assert not text.startswith("http"), f"bare URL as link text: {text!r}"


def test_colours_have_enough_contrast_and_links_are_underlined() -> None:
    case = golden_cases()["ofsted_out_of_time_safeguarding_special_measures"]
    css = structure(render_letter(case.kind, case.data).html).styles[0]
    rules = css_rules(css)
    checked = 0
    for selector, decl in rules:
        background = decl.get("background-color", "#ffffff")
        if "color" in decl:
            ratio = contrast(decl["color"], background)
            assert ratio >= 4.5, f"{selector}: text contrast {ratio:.2f}"
            checked += 1
        for key, value in decl.items():
            if key.startswith("border") or key == "outline":
                for colour in re.findall(r"#[0-9a-fA-F]{3,6}\b", value):
                    assert contrast(colour, background) >= 3, f"{selector}: {key}"
                    checked += 1
    assert checked >= 6
    link = next(decl for selector, decl in rules if selector == "a")
    assert link["text-decoration"] == "underline"


def test_printed_links_show_their_address() -> None:
    case = golden_cases()["printable_phone_complaint"]
    css = structure(render_printable(case.data, case.kind)).styles[0]
    print_css = css[css.index("@media print"):]
    assert re.search(r'a\[href\^="http"\]::after \{ content: " \(" attr\(href\) "\)"; \}',
                     print_css)


def test_safeguarding_panel_has_a_heading_not_just_a_border() -> None:
    case = golden_cases()["provider_concern_safeguarding"]
    html = render_letter(case.kind, case.data).html
    assert re.search(r"<h2>If a child is in danger</h2>\s*<div class=\"panel\">", html)


def test_large_print_variant_uses_larger_type() -> None:
    case = golden_cases()["large_print_jar"]
    html = render_letter(case.kind, case.data, large_print=True).html
    page = structure(html)
    assert page.body_classes == ["large-print"]
    sizes = {sel: decl.get("font-size") for sel, decl in css_rules(page.styles[0])}
    assert sizes["body.large-print"] in ("1.5rem", "18pt")
    assert "large-print" not in structure(render_letter(case.kind, case.data).html).body_classes
    printable = render_printable(case.data, case.kind, large_print=True,
                                 letter_date=date(2026, 11, 24))
    assert structure(printable).body_classes == ["large-print"]
