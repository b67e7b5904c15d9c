"""Every change a member of staff makes to a case, as plain functions.

Slack buttons, slash commands and tests all call these, inside the caller's transaction,
so a change and its audit entry (who, what, when) are committed together or not at all
(issue 5 item 8). Corrections never delete: a label is superseded by a new row with source
``staff:<user>``, which the NLP side reads back as training signal; deadlines are
superseded the same way, so the history of every date stays explainable.

Each change also queues an update of the case's triage post, so the post in Slack shows
the case as it now is (issue 5 item 3, "the post updates in place").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from intake.cases.audit import audit
from intake.cases.facts import case_text, classification_of, contact_of, current_labels
from intake.cases.models import Case, CaseLink, Deadline, Label, Letter
from intake.settings import Settings
from nlp.labels import ASPECT_INTENTS, ASPECTS, INSPECTORATES, INTENTS, REGIMES

CLOSED = "closed"
OUT_OF_SCOPE_FLAG = "out_of_scope"
MERGED_FLAG = "merged"
STAFF_RULE = "staff"
MAX_REASON = 500


class ActionError(Exception):
    """A change that cannot be made; ``field`` names the input at fault, if any."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def staff_actor(user_id: str) -> str:
    """How staff appear in the audit trail and as a label source."""
    return f"staff:{user_id}"


def _now() -> datetime:
    return datetime.now(UTC)


def find_case(session: Session, reference: str) -> Case:
    """The case with this reference, or an ActionError that says so."""
    ref = (reference or "").strip().upper()
    case = session.scalar(select(Case).where(Case.reference == ref))
    if case is None:
        raise ActionError(f"No case with reference {ref or '(none given)'}.", "reference")
    return case


def _require_open(case: Case) -> None:
    if case.status == CLOSED:
        raise ActionError(f"Case {case.reference} is closed.")


def _post_update(session: Session, case: Case, settings: Settings | None) -> None:
    """Queue an update of the triage post (a row: sent by the post queue at Slack's pace)."""
    if settings is None or settings.slack_mode == "off" or not (
            case.slack_channel or settings.slack_triage_channel):
        return
    from bot.notify import enqueue_case_post

    enqueue_case_post(session, case, settings)


def _thread_note(session: Session, case: Case, text: str, settings: Settings | None) -> None:
    if settings is None or settings.slack_mode == "off":
        return
    from bot.notify import enqueue_thread_note

    enqueue_thread_note(session, case, text, purpose="thread", settings=settings)


# --- labels ---------------------------------------------------------------------------


def confirm_labels(session: Session, case: Case, actor: str,
                   settings: Settings | None = None) -> int:
    """A person agrees with the labels: each model label is superseded by a staff copy.

    Returns how many labels were confirmed (0 when staff had already set them all).
    """
    now = _now()
    confirmed = 0
    for label in current_labels(case):
        if label.source.startswith("staff:"):
            continue
        label.superseded_at = now
        case.labels.append(Label(name=label.name, value=label.value, confidence=1.0,
                                 source=actor, rule=STAFF_RULE, created_at=now))
        confirmed += 1
    if not confirmed and not case.needs_review:
        return 0  # already confirmed (a double click): nothing changed, nothing to audit
    case.needs_review = False
    audit(session, actor, "labels_confirmed", case.reference, count=confirmed)
    _post_update(session, case, settings)
    return confirmed


@dataclass(frozen=True)
class LabelChange:
    """New values for some labels; None leaves that label as it is."""

    intent: str | None = None
    aspects: Iterable[str] | None = None
    inspectorates: Iterable[str] | None = None
    regime: str | None = None
    safeguarding: bool | None = None


@dataclass(frozen=True)
class LabelSet:
    """A case's labels by label-row name (``Label.name``), for comparing and storing."""

    intent: str
    aspect: tuple[str, ...]
    inspectorate: tuple[str, ...]
    regime: str
    safeguarding: bool

    @classmethod
    def of(cls, case: Case) -> LabelSet:
        return cls(case.intent, tuple(sorted(case.aspects)), tuple(sorted(case.inspectorates)),
                   case.regime, case.safeguarding)

    def names(self) -> tuple[str, ...]:
        return ("intent", "aspect", "inspectorate", "regime", "safeguarding")

    def values(self, name: str) -> list[str]:
        """The label rows' values for ``name`` (one row per aspect or inspectorate)."""
        value = getattr(self, name)
        if isinstance(value, tuple):
            return list(value)
        if isinstance(value, bool):
            return ["true" if value else "false"]
        return [value]

    def apply_to(self, case: Case) -> None:
        case.intent, case.regime = self.intent, self.regime
        case.aspects, case.inspectorates = list(self.aspect), list(self.inspectorate)
        case.safeguarding = self.safeguarding


def _validated(case: Case, change: LabelChange) -> LabelSet:
    """The case's labels after the change; ActionError naming the first bad value."""
    aspects = case.aspects if change.aspects is None else change.aspects
    bodies = case.inspectorates if change.inspectorates is None else change.inspectorates
    labels = LabelSet(
        intent=case.intent if change.intent is None else change.intent,
        aspect=tuple(sorted(set(aspects))), inspectorate=tuple(sorted(set(bodies))),
        regime=case.regime if change.regime is None else change.regime,
        safeguarding=case.safeguarding if change.safeguarding is None
        else bool(change.safeguarding))
    if labels.intent not in INTENTS:
        raise ActionError(f"Unknown intent {labels.intent!r}.", "intent")
    if labels.regime not in REGIMES:
        raise ActionError(f"Unknown regime {labels.regime!r}.", "regime")
    if bad := [a for a in labels.aspect if a not in ASPECTS]:
        raise ActionError(f"Unknown aspect {bad[0]!r}.", "aspects")
    if bad := [b for b in labels.inspectorate if b not in INSPECTORATES]:
        raise ActionError(f"Unknown inspectorate {bad[0]!r}.", "inspectorates")
    if labels.aspect and labels.intent not in ASPECT_INTENTS:
        # RULES.md 1: aspects only for complaints, escalations and withhold requests.
        raise ActionError(f"Aspects apply only to {', '.join(sorted(ASPECT_INTENTS))}; "
                          f"clear them for {labels.intent}.", "aspects")
    return labels


def _supersede_labels(case: Case, name: str, values: list[str], actor: str,
                      now: datetime) -> None:
    for label in current_labels(case):
        if label.name == name:
            label.superseded_at = now
    for value in values:
        case.labels.append(Label(name=name, value=value, confidence=1.0, source=actor,
                                 rule=STAFF_RULE, created_at=now))


def _shown(labels: LabelSet, name: str) -> object:
    value = getattr(labels, name)
    return list(value) if isinstance(value, tuple) else value


def relabel(session: Session, case: Case, actor: str, change: LabelChange,
            settings: Settings) -> list[str]:
    """Correct labels; recompute the deadlines and re-render a held letter.

    Returns the label names that changed. A case newly marked safeguarding, or newly a
    withhold request, raises the urgent alert as the pipeline would have.
    """
    _require_open(case)
    after, before = _validated(case, change), LabelSet.of(case)
    changed = [n for n in after.names() if getattr(after, n) != getattr(before, n)]
    if not changed:
        return []
    now = _now()
    for name in changed:
        _supersede_labels(case, name, after.values(name), actor, now)
    after.apply_to(case)
    case.needs_review = False
    if {"intent", "regime", "aspect"} & set(changed):
        recompute_deadlines(session, case, now)
    rerender_held_letters(case)
    audit(session, actor, "labels_corrected", case.reference,
          before={n: _shown(before, n) for n in changed},
          after={n: _shown(after, n) for n in changed})
    _raise_new_alerts(session, case, before, settings)
    _post_update(session, case, settings)
    return changed


def _raise_new_alerts(session: Session, case: Case, before: LabelSet,
                      settings: Settings) -> None:
    from intake.alerts import raise_alert

    if case.safeguarding and not before.safeguarding:
        raise_alert(session, case, "safeguarding", settings)
    if case.intent == "withhold_publication" and before.intent != case.intent:
        raise_alert(session, case, "withhold", settings)


def recompute_deadlines(session: Session, case: Case, now: datetime | None = None) -> None:
    """Supersede the case's deadlines with ones computed from its current labels."""
    from intake.rules.deadlines import LONDON, compute_deadlines

    now = now or _now()
    d = compute_deadlines(regime=case.regime, intent=case.intent,
                          received_at=case.received_at.astimezone(LONDON),
                          published=case.report_published, aspects=case.aspects)
    for row in case.deadlines:
        if row.superseded_at is None:
            row.superseded_at = now
    dates: list[tuple[str, object, str | None]] = [
        (kind, getattr(d, kind), d.sources.get(kind))
        for kind in ("acknowledge_by", "respond_by", "time_limit_ends")]
    dates += [(m.kind, m.due, m.source) for m in d.milestones]
    for kind, due, source in dates:
        if due is None:
            continue
        row = Deadline(kind=kind, rule=d.rule, source=source, rule_version=d.rule_version,
                       created_at=now)
        if isinstance(due, datetime):
            row.due_date, row.due_at = due.date(), due
        else:
            row.due_date = due  # type: ignore[assignment]
        case.deadlines.append(row)
    case.deadline_summary = d.to_json()
    case.rule_version = d.rule_version
    flags = set(case.flags or [])
    flags.discard("out_of_time")
    if d.out_of_time:
        flags.add("out_of_time")
    case.flags = sorted(flags)


def rerender_held_letters(case: Case) -> int:
    """Render every held letter again from the case as it now is; return how many."""
    from intake.letters import (
        LetterInput,
        letter_kind_for,
        missing_information,
        render_letter,
        render_printable,
    )
    from intake.rules.deadlines import LONDON, compute_deadlines

    held = [lt for lt in case.letters if lt.status == "held" and lt.kind != "receipt"]
    if not held:
        return 0
    c, contact = classification_of(case), contact_of(case)
    d = compute_deadlines(regime=case.regime, intent=case.intent,
                          received_at=case.received_at.astimezone(LONDON),
                          published=case.report_published, aspects=case.aspects)
    first = case.messages[0] if case.messages else None
    data = LetterInput(reference=case.reference, channel=case.channel,
                       received_at=case.received_at, classification=c, deadlines=d,
                       complainant=contact,
                       missing=missing_information(c, contact, case_text(case)),
                       subject=first.subject if first else None, held=True)
    kind = letter_kind_for(case.intent)
    for letter in held:
        rendered = render_letter(kind, data)
        letter.kind, letter.subject, letter.body_text = kind, rendered.subject, rendered.text
        letter.body_html = render_printable(data, kind) if letter.delivery == "post" \
            else rendered.html
        letter.template_version, letter.rule_version = rendered.template_version, \
            d.rule_version
    return len(held)


# --- people and links -----------------------------------------------------------------


def assign(session: Session, case: Case, actor: str, assignee: str | None,
           settings: Settings | None = None) -> None:
    """Give the case to a person (a Slack user ID), or take it back with None."""
    _require_open(case)
    previous = case.assignee
    if (assignee or None) == previous:
        return  # the same choice again (a repeated event): nothing changed
    case.assignee = assignee or None
    audit(session, actor, "assigned", case.reference, assignee=case.assignee,
          previous=previous)
    if case.assignee:
        _thread_note(session, case, f"{case.reference} assigned to <@{case.assignee}>.",
                     settings)
    _post_update(session, case, settings)


def _link_between(session: Session, a: Case, b: Case) -> CaseLink | None:
    return session.scalar(select(CaseLink).where(or_(
        (CaseLink.case_id == a.id) & (CaseLink.other_case_id == b.id),
        (CaseLink.case_id == b.id) & (CaseLink.other_case_id == a.id))))


def _other(session: Session, case: Case, other_reference: str) -> Case:
    other = find_case(session, other_reference)
    if other.id == case.id:
        raise ActionError("A case cannot be linked to itself.", "reference")
    return other


def link(session: Session, case: Case, other_reference: str, actor: str,
         settings: Settings | None = None) -> CaseLink:
    """Confirm that two cases are about the same incident (``000_…`` para 27)."""
    other = _other(session, case, other_reference)
    row = _link_between(session, case, other)
    if row is None:
        row = CaseLink(case_id=case.id, other_case_id=other.id, kind="confirmed",
                       reason="linked by staff", created_by=actor)
        session.add(row)
    elif row.kind == "proposed":
        row.kind = "confirmed"
    audit(session, actor, "linked", case.reference, other=other.reference)
    audit(session, actor, "linked", other.reference, other=case.reference)
    _post_update(session, case, settings)
    _post_update(session, other, settings)
    return row


def merge(session: Session, case: Case, into_reference: str, actor: str,
          settings: Settings | None = None) -> Case:
    """Fold ``case`` into another: one investigation and one response (para 27).

    The merged case is closed with an outcome naming the case it joined; its messages,
    letters and audit trail stay where they are, so nothing is lost.
    """
    _require_open(case)
    into = _other(session, case, into_reference)
    if into.status == CLOSED:
        raise ActionError(f"Case {into.reference} is closed; merge into an open case.",
                          "reference")
    row = _link_between(session, case, into)
    if row is None:
        session.add(CaseLink(case_id=case.id, other_case_id=into.id, kind="merged",
                             reason="merged by staff", created_by=actor))
    else:
        row.kind = "merged"
    _close(case, f"Merged into {into.reference}", MERGED_FLAG)
    audit(session, actor, "merged", case.reference, into=into.reference)
    audit(session, actor, "merged_in", into.reference, merged=case.reference)
    _thread_note(session, into, f"{case.reference} was merged into {into.reference}.",
                 settings)
    _post_update(session, case, settings)
    _post_update(session, into, settings)
    return into


# --- closing --------------------------------------------------------------------------


def _clean(text: str | None, what: str) -> str:
    value = " ".join((text or "").split())
    if not value:
        raise ActionError(f"Give {what}.", what.split()[-1])
    return value[:MAX_REASON]


def _close(case: Case, outcome: str, flag: str | None = None) -> None:
    case.status = CLOSED
    case.outcome = outcome
    case.closed_at = _now()
    if flag:
        case.flags = sorted({*(case.flags or []), flag})


def mark_out_of_scope(session: Session, case: Case, actor: str, reason: str,
                      settings: Settings | None = None) -> None:
    """Close the case as outside the complaints procedure, with the reason."""
    _require_open(case)
    why = _clean(reason, "a reason")
    _close(case, f"Out of scope: {why}", OUT_OF_SCOPE_FLAG)
    audit(session, actor, "out_of_scope", case.reference, reason=why)
    _post_update(session, case, settings)


def close_case(session: Session, case: Case, actor: str, outcome: str,
               settings: Settings | None = None) -> None:
    """Close the case with its outcome (kept for the record and for statistics)."""
    _require_open(case)
    result = _clean(outcome, "an outcome")
    _close(case, result)
    audit(session, actor, "closed", case.reference, outcome=result)
    _post_update(session, case, settings)


# --- text and letters -----------------------------------------------------------------


def show_text(session: Session, case: Case, actor: str) -> str:
    """The complaint's text for a member of staff; every viewing is audited."""
    audit(session, actor, "text_viewed", case.reference)
    return case_text(case)


def held_letter(case: Case, letter_id: int) -> Letter:
    """The case's held letter with this id; ActionError when it is not (or no longer) held."""
    for letter in case.letters:
        if letter.id == letter_id:
            if letter.status != "held":
                raise ActionError(f"That {letter.kind.replace('_', ' ')} is already "
                                  f"{letter.status}.")
            return letter
    raise ActionError(f"Case {case.reference} has no such letter.")


def approve_letter(session: Session, case: Case, letter_id: int, actor: str,
                   settings: Settings) -> Letter:
    """Send a held letter now, recording who approved it (the preview was shown first)."""
    from intake.letters_flow import release_letter

    # Two people approving at once: the row lock makes the second see it is no longer held.
    session.get(Letter, letter_id, with_for_update=True, populate_existing=True)
    letter = held_letter(case, letter_id)
    if letter.delivery == "email" and not letter.recipient:
        raise ActionError("This letter has no address to go to; add the complainant's "
                          "email first.")
    release_letter(session, case, letter, actor, settings)
    kind = letter.kind.replace("_", " ")
    _thread_note(session, case, f"{case.reference}: {kind} approved by "
                 f"<@{actor.removeprefix('staff:')}> and sent.", settings)
    _post_update(session, case, settings)
    return letter
