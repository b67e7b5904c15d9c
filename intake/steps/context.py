"""What the steps share while one stored message is processed, and what the messages of
one write transaction (a batch, or a single message) share."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Table, func, insert, inspect, select, update
from sqlalchemy.orm import Session

from intake.cases.audit import SYSTEM
from intake.cases.models import Alert, AuditEntry, Base, Case, Letter, Message, ReferenceCounter
from intake.records import Classification, ParsedMessage
from intake.rules.deadlines import Deadlines
from intake.settings import Settings


class Later:
    """A value known only once the unit of work has inserted the rows of the batch (an
    id, or a key made of one): a batch row may hold it, and :meth:`Batch.flush` works it
    out after the session's one flush."""

    __slots__ = ("value",)

    def __init__(self, value: Callable[[], Any]) -> None:
        self.value = value


def id_of(row: Base) -> int | Later:
    """The row's id, or its id as it will be once the batch's rows are inserted."""
    known = row.id  # type: ignore[attr-defined]
    return known if known is not None else Later(lambda: row.id)  # type: ignore[attr-defined]


def number_new_rows(session: Session) -> None:
    """SQLite: give the session's new rows their ids before the flush, so each table's
    rows go in with one ``executemany``.

    Left to the database, the ORM must read every row's id back, and SQLite gives no
    order for ``INSERT … RETURNING`` over several rows, so SQLAlchemy sends those inserts
    one row at a time. The ids are the ones SQLite would pick (the largest id + 1, the
    tables have no ``AUTOINCREMENT``): the pipeline's transaction holds SQLite's write
    lock from its first statement, so nobody else inserts meanwhile, and a clash would
    fail on the primary key rather than mix rows up."""
    if session.get_bind().dialect.name != "sqlite":
        return
    waiting: dict[Table, list[Any]] = {}
    for row in session.new:
        table = inspect(row).mapper.local_table
        column = table.autoincrement_column
        if column is not None and getattr(row, column.key) is None:
            waiting.setdefault(table, []).append(row)
    if not waiting:
        return
    tables = list(waiting)
    largest = session.connection().execute(select(*(  # no autoflush
        select(func.max(table.autoincrement_column)).scalar_subquery()  # type: ignore[arg-type]
        for table in tables))).one()
    for table, last in zip(tables, largest, strict=True):
        key = table.autoincrement_column.key  # type: ignore[union-attr]
        rows = sorted(waiting[table], key=lambda row: inspect(row).insert_order)
        for n, row in enumerate(rows, start=(last or 0) + 1):
            setattr(row, key, n)


def _by_keys(rows: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """The rows grouped by the columns they give (one ``executemany`` needs the same
    columns in every row), in order of first appearance."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(tuple(row), []).append(row)
    return list(groups.values())


def _resolved(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` with each :class:`Later` worked out (also one level down: audit detail)."""
    for key, value in values.items():
        if isinstance(value, Later):
            values[key] = value.value()
        elif isinstance(value, dict):
            _resolved(value)
    return values


@dataclass
class Batch:
    """Per write transaction: rows written once for all its messages, just before the
    commit (:meth:`flush`), and answers read once for all of them.

    - the cases, complainants and letters are ORM objects, inserted by one flush of the
      unit of work for the whole batch (the steps run without autoflush); rows that need
      their ids hold :class:`Later` values until then, and the cases' proposed links are
      found with one query after it;
    - labels, deadlines, proposed case links and audit rows are append-only and read by
      no later step, so each table's rows go in one multi-row INSERT;
    - SQLite: case numbers are counted here after the first bump of the transaction (which
      also takes the counter row), and the counter is written once. SQLite has one writer
      at a time, so nobody else moves the counter meanwhile; numbers stay gap-free;
    - PostgreSQL: case numbers are taken for the rest of the batch at its first case (a
      message that then opens no case leaves a gap, which is allowed);
    - run-time switches (letters paused) are read once per transaction;
    - the reply log's counts (``intake.email.can_acknowledge``) are added up here and
      written with one upsert.
    """

    rows: dict[type[Base], list[dict[str, Any]]] = field(default_factory=dict)
    counters: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # [first, last]
    numbers: dict[tuple[str, int], list[int]] = field(default_factory=dict)  # PostgreSQL
    left: int = 1  # messages of the batch not yet through their steps, this one included
    switches: dict[str, bool] = field(default_factory=dict)
    # Cases opened by the batch, oldest first, with the case their subject names: their
    # links are proposed once they are inserted (``intake.steps.open_case``).
    linking: list[tuple[Case, int | None]] = field(default_factory=list)
    then: list[Callable[[], Any]] = field(default_factory=list)  # see :meth:`after`
    replies: dict[tuple[str, date], int] = field(default_factory=dict)  # the reply log's
    # Urgent alerts inserted with the batch's cases; their notices are sent at its flush.
    alerts: list[tuple[Alert, Settings]] = field(default_factory=list)
    # Each message's original delivery (None: it is the first), read once for the batch.
    originals: dict[int, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, session: Session) -> Batch:
        """A batch for the session's transaction; the outbox adds its rows to it too."""
        from intake.email.can_acknowledge import REPLIES_LATER
        from intake.email.outbox import INSERT_LATER

        batch = cls()
        session.info[INSERT_LATER] = batch.add
        session.info[REPLIES_LATER] = batch.replies
        return batch

    def read_replies(self, session: Session, addresses: list[str | None]) -> None:
        """Read the reply log's counts for the batch's senders in one query (the daily
        limit of ``intake.email.can_acknowledge`` then needs none per message)."""
        from intake.email.can_acknowledge import read_counts

        read_counts(session, [address for address in addresses if address])

    def read_originals(self, session: Session, messages: Iterable[Message]) -> None:
        """Find the batch's earlier deliveries in one query (``intake.steps.dedupe``)."""
        from intake.steps.dedupe import read_originals

        self.originals = read_originals(session, messages)

    def audit(self, actor: str, action: str, case_reference: str | None = None,
              **detail: Any) -> None:
        """Record one change, written with the batch (same transaction)."""
        self.add(AuditEntry, at=datetime.now(UTC), actor=actor,
                 case_reference=case_reference, action=action, detail=detail)

    def after(self, action: Callable[[], Any]) -> None:
        """Run ``action`` in the transaction once the batch's rows are in (it needs ids)."""
        self.then.append(action)

    def alert(self, session: Session, case: Case, kind: str, settings: Settings) -> None:
        """Raise an urgent alert for ``case``: inserted with the batch's cases, its first
        notice and audit row once it has its id (at the flush)."""
        from intake.alerts import new_alert

        alert = new_alert(case, kind)
        session.add(alert)
        self.alerts.append((alert, settings))

    def _send_alerts(self, session: Session) -> None:
        """The first notices of the batch's alerts, inserted by its flush, and their
        audit rows (with the batch's)."""
        from intake.alerts import send_first_notice

        raised, self.alerts = self.alerts, []
        for alert, settings in raised:
            send_first_notice(session, alert.case, alert, settings)
            self.audit(SYSTEM, "alert_raised", alert.case.reference, kind=alert.kind,
                       alert_id=alert.id)

    def add(self, model: type[Base], **values: Any) -> None:
        """One append-only row, inserted with the batch (same transaction)."""
        self.rows.setdefault(model, []).append(values)

    def flush(self, session: Session) -> None:
        """Write what was collected; called inside the transaction, before its commit."""
        number_new_rows(session)
        session.flush()  # the batch's cases, complainants and letters: their ids
        if self.linking:
            from intake.steps.open_case import propose_links

            propose_links(session, self)
        if self.alerts:
            self._send_alerts(session)
        connection = session.connection()  # Core: the ORM's bulk layer adds nothing here
        for model, rows in self.rows.items():
            for same in _by_keys(_resolved(row) for row in rows):
                connection.execute(insert(model.__table__), same)  # compiled per keys
        self.rows = {}  # (a row added after this flush would need another one)
        if self.replies:
            from intake.email.can_acknowledge import record_replies

            record_replies(session, self.replies)
            self.replies.clear()  # the same dict: session.info holds it
        for (prefix, year), (first, last) in self.counters.items():
            if last != first:
                session.execute(update(ReferenceCounter)
                                .where(ReferenceCounter.prefix == prefix,
                                       ReferenceCounter.year == year)
                                .values(last=last))
            self.counters[(prefix, year)] = [last, last]
        actions, self.then = self.then, []
        for action in actions:
            action()


@dataclass
class Context:
    session: Session
    settings: Settings
    message: Message
    parsed: ParsedMessage | None = None  # may be prepared before the transaction
    labels: Classification | None = None  # the classifier's own output, likewise
    classification: Classification | None = None  # labels with the form's fields on top
    deadlines: Deadlines | None = None
    case: Case | None = None
    letters: list[Letter] = field(default_factory=list)
    done: bool = False  # a step has settled the message's disposition
    batch: Batch = field(default_factory=Batch)  # the pipeline flushes it before commit

    def finish(self, disposition: str, reason: str | None = None) -> None:
        """Settle the disposition; later steps do not run."""
        self.message.disposition = disposition
        self.message.reason = reason
        self.done = True
