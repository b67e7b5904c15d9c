"""``intake-bot deadlines``: the deadlines for one message, as one JSON object.

Exit status 2 with a message naming the argument for bad input (PRODUCT.md, command-line
contract); exit status 1 with the field named when the rules file is refused.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import click

from intake.rules.deadlines import INTENTS, LONDON, REGIMES, compute_deadlines
from intake.settings import ConfigError


class ReceivedType(click.ParamType):
    """An ISO 8601 date or datetime; naive means Europe/London, a date means 00:00 there."""

    name = "date_or_datetime"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        try:
            day = date.fromisoformat(text)
        except ValueError:
            pass
        else:
            return datetime(day.year, day.month, day.day, tzinfo=LONDON)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError as exc:
            self.fail(f"{text!r} is not a valid ISO 8601 date or datetime ({exc})", param, ctx)
        return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=LONDON)


class DateType(click.ParamType):
    """A calendar date, YYYY-MM-DD; impossible dates (30 February) are refused."""

    name = "date"

    def convert(self, value: object, param: click.Parameter | None,
                ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        text = str(value).strip()
        try:
            return date.fromisoformat(text)
        except ValueError as exc:
            self.fail(f"{text!r} is not a valid date YYYY-MM-DD ({exc})", param, ctx)



# compute_deadlines names its arguments; the user knows them as options.
_OPTIONS = {"received_at": "'--received'", "published": "'--published'"}


@click.command("deadlines")
@click.option("--regime", required=True, type=click.Choice(REGIMES),
              help="which published procedure applies")
@click.option("--received", "received_at", required=True, type=ReceivedType(),
              help="when the message arrived (date or datetime; no offset means London)")
@click.option("--published", type=DateType(), default=None,
              help="report publication date, when known")
@click.option("--intent", type=click.Choice(INTENTS), default="complaint", show_default=True,
              help="the message's intent")
def deadlines_command(regime: str, received_at: datetime, published: date | None,
                      intent: str) -> None:
    """Print the acknowledgement and response deadlines and the time limit, as JSON."""
    try:
        deadlines = compute_deadlines(regime=regime, intent=intent, received_at=received_at,
                                      published=published)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except ValueError as exc:  # a date outside the supported range, named by its field
        field, _, reason = str(exc).partition(": ")
        raise click.BadParameter(reason, param_hint=_OPTIONS.get(field, field)) from None
    click.echo(json.dumps(deadlines.to_json()))
