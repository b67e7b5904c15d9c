"""Every letter passes axe-core's WCAG 2.0, 2.1 and 2.2 A and AA rules in a real browser.

The structural checks in test_accessibility.py read the HTML; these render it in headless
Chromium, so computed contrast, focus order, landmarks and names are judged as a browser
sees them. Each letter kind is checked as email, large print, printable and printable large
print. Outside CI the tests skip, with the reason, when Chromium or axe-core is missing;
with CI=true they must run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest

from intake.letters import render_letter, render_printable
from tests.letters.axe_browser import Browser, find_axe, find_chromium
from tests.letters.cases import golden_cases

LETTER_DATE = date(2026, 11, 24)
VARIANTS = ("email", "large_print", "printable", "printable_large_print")


def _missing(what: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} must be installed in CI for the accessibility checks")
    pytest.skip(f"{what} not installed: browser accessibility checks skipped")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium, axe_js = find_chromium(), find_axe()
    if chromium is None:
        _missing("Chromium (Debian package chromium)")
    if axe_js is None:
        _missing("axe-core (npm install -g axe-core, or set AXE_CORE_JS)")
    assert chromium is not None and axe_js is not None
    instance = Browser(chromium, axe_js)
    yield instance
    instance.close()


def _pages() -> list[tuple[str, str]]:
    """Every golden case as email and printable; one case per kind in the large-print forms."""
    pages = [(name, variant) for name in sorted(golden_cases())
             for variant in ("email", "printable")]
    first_of_kind: dict[str, str] = {}
    for name, case in sorted(golden_cases().items()):
        first_of_kind.setdefault(case.kind, name)
    pages += [(name, variant) for name in sorted(first_of_kind.values())
              for variant in ("large_print", "printable_large_print")]
    return pages


def _html(name: str, variant: str) -> str:
    case = golden_cases()[name]
    large = variant in ("large_print", "printable_large_print")
    if variant.startswith("printable"):
        return render_printable(case.data, case.kind, large_print=large,
                                letter_date=LETTER_DATE)
    return render_letter(case.kind, case.data, large_print=large).html


def _describe(items: list[dict[str, Any]]) -> str:
    return "; ".join(f"{v['id']} ({v.get('impact')}): {v['help']} at "
                     f"{[n['target'] for n in v['nodes']][:3]}" for v in items)


def test_pages_cover_every_kind_and_variant() -> None:
    kinds = {golden_cases()[name].kind for name, _ in _pages()}
    assert kinds == {case.kind for case in golden_cases().values()}
    assert {variant for _, variant in _pages()} == set(VARIANTS)


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("name", "variant"), _pages())
def test_letter_has_no_axe_violations(browser: Browser, name: str, variant: str) -> None:
    result = browser.audit(_html(name, variant), f"{name}-{variant}")
    assert result["violations"] == [], _describe(result["violations"])
    # "Incomplete" is axe asking a person to look (e.g. contrast over an image): none allowed.
    assert result["incomplete"] == [], _describe(result["incomplete"])
    assert {"html-has-lang", "color-contrast", "document-title"} <= set(result["passes"])


@pytest.mark.timeout(120)
def test_axe_reports_a_page_that_breaks_the_rules(browser: Browser) -> None:
    """The check can fail: no language, grey on white, a vague link and an unlabelled image."""
    bad = ("<!doctype html><html><head><title>x</title></head><body>"
           "<p style='color:#aaaaaa;background:#ffffff'>Faint text</p>"
           "<a href='https://example.org/'></a><img src='data:,'></body></html>")
    found = {v["id"] for v in browser.audit(bad, "bad")["violations"]}
    assert {"html-has-lang", "color-contrast", "link-name", "image-alt"} <= found
