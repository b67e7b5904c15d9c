"""Step: a second delivery of the same message makes no second case and no second letter.

Every delivery is its own row; the first one (lowest id) with a given channel and external
id is the original, the others are ``duplicate`` and point at it.
"""

from __future__ import annotations

from sqlalchemy import bindparam, select

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


def mark_duplicate(ctx: Context) -> None:
    msg = ctx.message
    # Straight on the transaction's connection, so no flush first: pending changes cannot
    # match (earlier rows only), and the message row's UPDATE then goes with the case's
    # flush, once.
    original = ctx.session.connection().execute(
        _ORIGINAL, {"channel": msg.channel, "external_id": msg.external_id,
                    "before": msg.id}).one_or_none()
    if original is None:
        return
    msg.duplicate_of_id = original.id
    msg.case_id = original.case_id
    ctx.finish(DUPLICATE, f"same external id as message {original.id}")
