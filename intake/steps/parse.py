"""Step: read the stored raw input with its channel's parser."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from intake.records import ParsedMessage
from intake.steps.context import Context

# channel -> "module:function" taking the raw bytes and returning a ParsedMessage.
PARSERS = {
    "email": "intake.email.parse:parse_email",
    "slack": "bot.intake:parse_slack",
    "phone": "intake.channels.phone:parse_phone",
}


def parser_for(channel: str) -> Callable[[bytes], ParsedMessage]:
    module, name = PARSERS[channel].split(":")
    return getattr(importlib.import_module(module), name)


def parse_message(ctx: Context) -> None:
    """Fill the readable fields of the message row (shown by `messages export`)."""
    parsed = parser_for(ctx.message.channel)(ctx.message.raw)
    ctx.parsed = parsed
    msg = ctx.message
    msg.subject = parsed.subject
    msg.from_header = parsed.from_header
    msg.text = parsed.text
    msg.new_text = parsed.new_text
    msg.parse_notes = list(parsed.notes)
    msg.headers = dict(parsed.headers)
    _keep_attachments(ctx)


def _keep_attachments(ctx: Context) -> None:
    from intake.cases.attachments import store_attachments

    assert ctx.parsed is not None
    store_attachments(ctx.session, ctx.message, ctx.parsed.attachments, ctx.settings)
