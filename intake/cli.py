"""``intake-bot``: the command-line contract in PRODUCT.md.

Each command lives next to the code it drives; this module only names them, and imports
a command's module when that command runs, so ``intake-bot deadlines`` never loads spaCy.
"""

from __future__ import annotations

import importlib
import sys

import click

COMMANDS = {
    "serve": ("intake.serve", "serve_command"),
    "classify": ("intake.classify", "classify_command"),
    "deadlines": ("intake.rules.cli", "deadlines_command"),
    "cases": ("intake.cases.cli", "cases_group"),
    "messages": ("intake.cases.cli", "messages_group"),
    "db": ("intake.cases.cli", "db_group"),
    "purge": ("intake.cases.purge", "purge_command"),
    "phone": ("intake.channels.phone", "phone_command"),
    "nlp": ("nlp.cli", "nlp_group"),
    "letters": ("intake.switches", "letters_group"),
    "people": ("intake.cases.people", "people_group"),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr = COMMANDS[name]
        return getattr(importlib.import_module(module), attr)


@click.group(cls=LazyGroup)
def cli() -> None:
    """Intake bot for complaints about inspections."""


def main() -> None:
    try:
        cli(prog_name="intake-bot")
    except KeyboardInterrupt:
        sys.exit(130)
