"""The one predicate that decides whether an automatic letter may go to an address.

Modelled on Mailman's autorespond model: a tiny table counts automatic replies per address
per day (UTC), and the decision lives in one function whose docstring lists every reason
not to answer.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from intake.cases.models import ReplyLog
from intake.records import ParsedMessage
from intake.settings import Settings

# Local parts that belong to machines: answering them starts loops or feeds bounce storms.
_MACHINE_LOCAL = re.compile(
    r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon|no-?reply|do-?not-?reply"
    r"|bounces?|bounce[+-].*|.*-bounces(\+.*)?|owner-.*|.*-owner|.*-request|listserv|majordomo"
    r"|root|daemon|nobody)$",
    re.IGNORECASE,
)
_ADDRESS = re.compile(r"^[^@\s<>,;\"]+@[^@\s<>,;\"]+\.[^@\s<>,;\"]+$")


# session.info key: replies counted by the session's transaction and not written yet,
# ``{(address, day): count}``, when the caller writes them together (the pipeline's batch,
# with :func:`record_replies`); :func:`todays_count` adds them.
REPLIES_LATER = "intake.replies_later"


# session.info key: today's counts read once for the session's transaction,
# ``{address: count}`` (the pipeline's batch reads its senders' counts together, with
# :func:`read_counts`); :func:`todays_count` queries for an address not among them.
COUNTS_READ = "intake.reply_counts_read"


def _today() -> date:
    return datetime.now(UTC).date()


def _key(address: str) -> str:
    return address.strip().lower()[:320]


def todays_count(session: Session, address: str) -> int:
    """Automatic replies to this address today (a column query: never a stale object),
    with those of this transaction not written yet."""
    key, today = _key(address), _today()
    count = (session.info.get(COUNTS_READ) or {}).get(key)
    if count is None:
        count = session.execute(
            select(ReplyLog.count).where(ReplyLog.address == key, ReplyLog.day == today)
        ).scalar_one_or_none()
    later = session.info.get(REPLIES_LATER) or {}
    return (count or 0) + later.get((key, today), 0)


def read_counts(session: Session, addresses: list[str]) -> None:
    """Read today's counts for ``addresses`` in one query, for :func:`todays_count` to use
    for the rest of the transaction (written counts come from :func:`record_replies`)."""
    wanted = sorted({_key(a) for a in addresses if a and a.strip()})
    if not wanted:
        return
    found = dict(session.execute(
        select(ReplyLog.address, ReplyLog.count).where(ReplyLog.address.in_(wanted),
                                                       ReplyLog.day == _today())).all())
    session.info.setdefault(COUNTS_READ, {}).update(
        {address: found.get(address, 0) for address in wanted})


def can_acknowledge(session: Session, address: str | None, parsed: ParsedMessage | None,
                    settings: Settings) -> tuple[bool, str]:
    """Whether an automatic letter may go to ``address``; (False, why) when it may not.

    Reasons not to answer:
    - there is no address, or it is not a single plain mailbox (``no usable address``);
    - it is one of our own mailboxes or the letters' From address (a loop);
    - it belongs to a machine: mailer-daemon, postmaster, no-reply, list owners and
      ``-request``/``-bounces`` addresses (RFC 3834 section 2);
    - the mail itself says it came from a machine: ``Auto-Submitted`` other than ``no``,
      ``Precedence: bulk|list|junk|auto_reply``, ``List-Id`` or a delivery report
      (RFC 3834 sections 2 and 5; screening normally stops these earlier);
    - the address already got ``max_replies_per_sender_per_day`` automatic replies today
      (loop protection against another robot that answers every letter).
    """
    address = (address or "").strip().lower()
    ours = {m.lower() for m in settings.mailboxes} | {settings.letters_from.lower()}
    if address in ours:
        return False, "the address is one of our own mailboxes"
    if not _ADDRESS.match(address):
        return False, "no usable address"
    if _MACHINE_LOCAL.match(address.split("@", 1)[0]):
        return False, "the address belongs to a machine"
    machine = _machine_headers(parsed)
    if machine:
        return False, machine
    if todays_count(session, address) >= settings.max_replies_per_sender_per_day:
        return False, "daily limit of automatic replies to this address reached"
    return True, "ok"


def _machine_headers(parsed: ParsedMessage | None) -> str | None:
    if parsed is None:
        return None
    headers = parsed.headers
    auto = str(headers.get("auto-submitted", "no")).split(";")[0].strip().lower()
    if auto and auto != "no":
        return f"Auto-Submitted: {auto[:40]}"
    precedence = str(headers.get("precedence", "")).strip().lower()
    if precedence in ("bulk", "list", "junk", "auto_reply"):
        return f"Precedence: {precedence}"
    if "list-id" in headers:
        return "mailing-list mail (List-Id)"
    if "dsn" in headers:
        return "a delivery report"
    return None


def record_reply(session: Session, address: str) -> None:
    """Count one automatic reply to ``address`` today (an atomic upsert on both databases;
    with the rest of the transaction's replies when the caller collects them)."""
    key = (_key(address), _today())
    later = session.info.get(REPLIES_LATER)
    if later is not None:
        later[key] = later.get(key, 0) + 1
        return
    record_replies(session, {key: 1})


def record_replies(session: Session, counts: dict[tuple[str, date], int]) -> None:
    """Add ``counts`` (by address and day) to the reply log in one upsert."""
    if not counts:
        return
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(ReplyLog).values([{"address": address, "day": day, "count": count}
                                    for (address, day), count in counts.items()])
    stmt = stmt.on_conflict_do_update(index_elements=["address", "day"],
                                      set_={"count": ReplyLog.count + stmt.excluded.count})
    session.execute(stmt)
    read, today = session.info.get(COUNTS_READ), _today()
    for (address, day), count in counts.items() if read else ():
        if day == today and address in read:
            read[address] += count  # as the query would now find it
