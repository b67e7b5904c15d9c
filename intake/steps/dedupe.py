"""Step: a second delivery of the same message makes no second case and no second letter.

Every delivery is its own row; the first one (lowest id) with a given channel and external
id is the original, the others are ``duplicate`` and point at it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from intake.cases.models import DUPLICATE, Message
from intake.steps.context import Context

_MESSAGES = Message.__table__.c
# The earliest delivery before this one with the same channel and external id; a Core
# statement on the table, built once (the ORM's compile and result layers cost more than
# the indexed lookup itself). Not the whole row: raw is large.
_ORIGINAL = (
    select(_MESSAGES.id, _MESSAGES.case_id)
    .where(_MESSAGES.channel == bindparam("channel"),
           _MESSAGES.external_id == bindparam("external_id"),
           _MESSAGES.id < bindparam("before"))
    .order_by(_MESSAGES.id)
    .limit(1)
)


# Every delivery with one of a batch's external ids, oldest first: the batch's originals
# in one query (expanding IN: compiled once for any number of ids).
_DELIVERIES = (
    select(_MESSAGES.id, _MESSAGES.case_id, _MESSAGES.channel, _MESSAGES.external_id)
    .where(_MESSAGES.channel.in_(bindparam("channels", expanding=True)),  # the index's order
           _MESSAGES.external_id.in_(bindparam("external_ids", expanding=True)))
    .order_by(_MESSAGES.id)
)


def read_originals(session: Session, messages: Iterable[Message]) -> dict[int, Any]:
    """For each message (by id), the earliest delivery before it with the same channel
    and external id, or None: one query for a batch, so its steps need none."""
    messages = list(messages)
    if not messages:
        return {}
    rows = session.connection().execute(  # no flush: see mark_duplicate
        _DELIVERIES, {"channels": sorted({msg.channel for msg in messages}),
                      "external_ids": sorted({msg.external_id for msg in messages})}).all()
    first: dict[tuple[str, str], list[Any]] = {}
    for row in rows:
        first.setdefault((row.channel, row.external_id), []).append(row)
    found = {}
    for msg in messages:
        earlier = first.get((msg.channel, msg.external_id), [])
        found[msg.id] = earlier[0] if earlier and earlier[0].id < msg.id else None
    return found


def mark_duplicate(ctx: Context) -> None:
    msg = ctx.message
    # Straight on the transaction's connection, so no flush first: pending changes cannot
    # match (earlier rows only), and the message row's UPDATE then goes with the case's
    # flush, once. A batch has read its originals already.
    if msg.id in ctx.batch.originals:
        original = ctx.batch.originals[msg.id]
    else:
        original = ctx.session.connection().execute(
            _ORIGINAL, {"channel": msg.channel, "external_id": msg.external_id,
                        "before": msg.id}).one_or_none()
    if original is None:
        return
    msg.duplicate_of_id = original.id
    msg.case_id = original.case_id
    ctx.finish(DUPLICATE, f"same external id as message {original.id}")
