"""Step: read the stored raw input with its channel's parser."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import fields, is_dataclass
from typing import Any

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


def clean(value: Any) -> Any:
    """Strings without lone surrogates (8-bit header bytes decode to them, and no database
    can store them), in dataclasses, lists and dicts alike."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8") if _has_surrogates(value) \
            else value
    if isinstance(value, list):
        return [clean(v) for v in value]
    if isinstance(value, dict):
        return {clean(k): clean(v) for k, v in value.items()}
    if is_dataclass(value) and not isinstance(value, type):
        for f in fields(value):
            setattr(value, f.name, clean(getattr(value, f.name)))
    return value


def _has_surrogates(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_raw(channel: str, raw: bytes) -> ParsedMessage:
    """The channel's parser on the stored bytes; needs no database."""
    return clean(parser_for(channel)(raw))


def parse_message(ctx: Context) -> None:
    """Fill the readable fields of the message row (shown by `messages export`); the
    parse itself may have been done before the transaction."""
    if ctx.parsed is None:
        ctx.parsed = parse_raw(ctx.message.channel, ctx.message.raw)
    parsed = ctx.parsed
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
