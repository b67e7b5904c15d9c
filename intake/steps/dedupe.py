"""Step: a second delivery of the same message makes no second case and no second letter.

Every delivery is its own row; the first one (lowest id) with a given channel and external
id is the original, the others are ``duplicate`` and point at it.
"""

from __future__ import annotations

from sqlalchemy import select

from intake.cases.models import DUPLICATE, Message
from intake.steps.context import Context


def mark_duplicate(ctx: Context) -> None:
    msg = ctx.message
    # No flush first: pending changes cannot match (earlier rows only), and the message
    # row's UPDATE then goes with the case's flush, once.
    with ctx.session.no_autoflush:
        original = ctx.session.execute(
            select(Message.id, Message.case_id)  # not the whole row: raw is large
            .where(Message.channel == msg.channel, Message.external_id == msg.external_id,
                   Message.id < msg.id)
            .order_by(Message.id)
            .limit(1)
        ).one_or_none()
    if original is None:
        return
    msg.duplicate_of_id = original.id
    msg.case_id = original.case_id
    ctx.finish(DUPLICATE, f"same external id as message {original.id}")
