"""The letters' most used formatting macros in Python, with the templates' own output.

``templates/letters/format/{text,html}.j2`` define the macros a block calls as ``m``. A
letter calls ``m.p``, ``m.h2`` and the others some forty times per format, and Jinja's
macro call (argument binding, a new frame, the caller) was the largest single cost of
rendering one. These classes give the same strings (the same ``Markup`` in HTML) as those
macros, byte for byte (``tests/letters/test_formats.py`` holds them to it); any macro not
defined here (``contact``) is the template's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from jinja2 import Environment
from markupsafe import Markup, escape


class TextFormat:
    """``format/text.j2``: paragraphs wrapped to the text width, links spelt out."""

    def __init__(self, env: Environment, module: Any, width: int,
                 wordwrap: Callable[..., str], squash: Callable[[str], str]) -> None:
        self._env, self._module, self._width = env, module, width
        self._wordwrap, self._squash = wordwrap, squash

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # not a macro (and no loop before __init__ has run)
            raise AttributeError(name)
        return getattr(self._module, name)

    def h1(self, text: Any) -> str:
        return f"{text}\n{'=' * len(text)}\n\n"

    def h2(self, text: Any) -> str:
        return f"\n{text}\n{'-' * len(text)}\n\n"

    def p(self, caller: Callable[[], str]) -> str:
        body = self._squash(caller())
        return self._wordwrap(self._env, body, self._width, break_long_words=False,
                              break_on_hyphens=False) + "\n\n"

    def ul(self, caller: Callable[[], str]) -> str:
        return f"{caller()}\n\n"

    def li(self, caller: Callable[[], str]) -> str:
        item = "- " + self._squash(caller())
        return self._wordwrap(self._env, item, self._width, break_long_words=False,
                              wrapstring="\n  ", break_on_hyphens=False) + "\n"

    def link(self, text: Any, url: Any) -> str:
        return f"{text} ({url})"

    def strong(self, text: Any) -> str:
        return str(text)

    def panel(self, caller: Callable[[], str]) -> str:
        return f"{caller()}\n"


class HtmlFormat:
    """``format/html.j2``: autoescaped, so a value can never add markup (each value is
    escaped as ``{{ value }}`` escapes it; ``Markup`` passes as it is)."""

    def __init__(self, module: Any, squash: Callable[[str], str]) -> None:
        self._module, self._squash = module, squash

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # not a macro (and no loop before __init__ has run)
            raise AttributeError(name)
        return getattr(self._module, name)

    def h1(self, text: Any) -> Markup:
        return Markup(f"<h1>{escape(text)}</h1>\n")

    def h2(self, text: Any) -> Markup:
        return Markup(f"<h2>{escape(text)}</h2>\n")

    def p(self, caller: Callable[[], str]) -> Markup:
        return Markup(f"<p>{escape(self._squash(caller()))}</p>\n")

    def ul(self, caller: Callable[[], str]) -> Markup:
        return Markup(f"<ul>\n{escape(caller())}\n</ul>\n")

    def li(self, caller: Callable[[], str]) -> Markup:
        return Markup(f"<li>{escape(self._squash(caller()))}</li>\n")

    def link(self, text: Any, url: Any) -> Markup:
        return Markup(f'<a href="{escape(url)}">{escape(text)}</a>')

    def strong(self, text: Any) -> Markup:
        return Markup(f"<strong>{escape(text)}</strong>")

    def panel(self, caller: Callable[[], str]) -> Markup:
        return Markup(f'<div class="panel">\n{escape(caller())}\n</div>\n')
