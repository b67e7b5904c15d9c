"""Templates refuse to render when a value is missing, instead of leaving a gap."""

from __future__ import annotations

from typing import Any

import pytest
from jinja2 import StrictUndefined, UndefinedError, meta

from intake.letters.render import LETTERS_DIR, _context, environment
from tests.letters.cases import golden_cases

TEMPLATES = sorted(
    str(path.relative_to(LETTERS_DIR.parent)) for path in LETTERS_DIR.rglob("*.j2")
    if path.parent.name != "format"
)


def _contexts() -> list[dict[str, Any]]:
    return [_context(case.kind, case.data, None, for_post=case.printable,
                     large_print=case.large_print, letter_date=None)
            for case in golden_cases().values()]


def _variables(fmt: str, name: str) -> set[str]:
    env = environment(fmt)
    source = env.loader.get_source(env, name)[0]
    return meta.find_undeclared_variables(env.parse(source)) - set(env.globals)


def _renders(template: Any, context: dict[str, Any]) -> bool:
    """Whether a block applies to this case at all (a JAR block needs JAR facts)."""
    try:
        template.render(context)
    except UndefinedError:
        return False
    return True


def _refuses_without(fmt: str, name: str, variable: str,
                     contexts: list[dict[str, Any]]) -> bool:
    template = environment(fmt).get_template(name)
    for context in contexts:
        partial = {k: v for k, v in context.items() if k != variable}
        try:
            template.render(partial)
        except UndefinedError:
            return True
    return False


def test_environments_are_strict_and_html_is_autoescaped() -> None:
    for fmt in ("text", "html"):
        env = environment(fmt)
        assert env.undefined is StrictUndefined
        assert env.trim_blocks
    assert environment("html").autoescape is True
    assert environment("text").autoescape is False


def test_there_is_one_layout_per_format_and_blocks_per_situation() -> None:
    assert "letters/base.txt.j2" in TEMPLATES and "letters/base.html.j2" in TEMPLATES
    blocks = {t.rsplit("/", 1)[1] for t in TEMPLATES if "/blocks/" in t}
    assert {"out_of_time.j2", "missing_information.j2", "special_measures.j2", "routing.j2",
            "safeguarding.j2", "next_steps_ofsted.j2", "next_steps_jtai.j2",
            "next_steps_jar.j2", "next_steps_slac.j2", "next_steps_external.j2"} <= blocks


@pytest.mark.parametrize("fmt", ["text", "html"])
@pytest.mark.parametrize("name", TEMPLATES)
def test_template_refuses_to_render_without_each_variable(fmt: str, name: str) -> None:
    if name.endswith(f"base.{'html' if fmt == 'text' else 'txt'}.j2"):
        pytest.skip("the other format's layout")
    template = environment(fmt).get_template(name)
    contexts = [c for c in _contexts() if _renders(template, c)]
    assert contexts, f"no golden case renders {name}"
    variables = _variables(fmt, name)
    lenient = [v for v in sorted(variables) if not _refuses_without(fmt, name, v, contexts)]
    assert lenient == [], f"{name} renders without {lenient}"


def test_complete_context_renders_every_kind_in_both_formats() -> None:
    for context in _contexts():
        for fmt in ("text", "html"):
            out = environment(fmt).get_template(f"letters/kinds/{context['kind']}.j2").render(
                context)
            assert context["reference"] in out
