"""Decide what a letter says: which situations apply, as plain values for the templates.

The templates only choose wording; every decision about which paragraph applies is made
here, in one place, so it can be tested without rendering. Paragraph references are the
published procedures' own (see ``intake/rules/letters.toml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from intake.letters.dates import format_date, format_datetime, local_date
from intake.letters.facts import LetterFacts
from intake.records import Classification, Contact

if TYPE_CHECKING:
    from intake.rules.deadlines import Deadlines

# Which contact (letters.toml) speaks for each inspectorate label (RULES.md section 1).
INSPECTORATE_CONTACTS = {
    "ofsted": "ofsted_complaints",
    "cqc": "cqc",
    "hmic": "hmicfrs",
    "hmi_probation": "hmi_probation",
    "audit_commission": "audit_commission",
}
# The procedure whose steps an acknowledgement describes, per regime.
REGIME_PROCEDURE = {"ofsted": "ofsted", "jtai": "jtai", "jar": "jar", "slac": "slac",
                    "external": "jtai"}
TITLES = {
    "receipt": "We have received your message",
    "acknowledgement": "We have received your complaint",
    "withhold": "We have received your request about publishing a report",
    "escalation": "We have received your request about how we handled your complaint",
    "information_request": "We have received your request for information",
    "provider_concern": "We have received your concern about a provider",
    "enquiry": "We have received your enquiry",
    "progress_update": "An update on your complaint",
}
# What the reader sent us, as the letter names it.
THINGS = {
    "receipt": "message", "acknowledgement": "complaint", "withhold": "request",
    "escalation": "request", "information_request": "request",
    "provider_concern": "concern", "enquiry": "enquiry", "progress_update": "complaint",
}
# Letters about a complaint, answered under a complaints procedure (000_… para 6 applies).
COMPLAINT_KINDS = frozenset({"acknowledgement", "withhold", "escalation", "progress_update"})
SUBJECTS = {
    "receipt": "We have received your message",
    "acknowledgement": "Your complaint",
    "withhold": "Your request about publishing a report",
    "escalation": "Your request about how we handled your complaint",
    "information_request": "Your request for information",
    "provider_concern": "Your concern about a provider",
    "enquiry": "Your enquiry",
    "progress_update": "Update on your complaint",
}


@dataclass
class LetterInput:
    """Everything a letter needs about one case, handed over by the pipeline."""

    reference: str
    channel: str  # email | slack | phone
    received_at: datetime  # aware
    classification: Classification
    deadlines: Deadlines
    complainant: Contact
    missing: list[str]
    subject: str | None = None
    held: bool = False


def _procedure(facts: LetterFacts, key: str) -> dict[str, Any]:
    proc = facts.procedures[key]
    return {"title": proc.title, "signatory": proc.signatory, "time_limit": proc.time_limit,
            "p": dict(proc.paragraphs)}


def _contacts(facts: LetterFacts) -> dict[str, dict[str, Any]]:
    return {key: c.model_dump() for key, c in facts.contacts.items()}


# The procedures and contacts as template values, per facts (by identity; the entry keeps
# its facts, so an id is not reused while it is cached). Templates only read them.
_VIEWS: dict[int, tuple[LetterFacts, dict[str, dict[str, Any]], dict[str, dict[str, Any]]]] = {}


def _views(facts: LetterFacts) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Every procedure and every contact as the templates see them, built once per facts
    rather than once per letter."""
    cached = _VIEWS.get(id(facts))
    if cached is None or cached[0] is not facts:
        if len(_VIEWS) >= 8:  # facts loaded again (tests, an overridden rules file)
            _VIEWS.clear()
        procedures = {key: _procedure(facts, key) for key in facts.procedures}
        cached = _VIEWS[id(facts)] = (facts, procedures, _contacts(facts))
    return cached[1], cached[2]


def _named(inspectorates: list[str], *, without: str | None = None) -> list[str]:
    """Contact keys for the inspectorates named, in a stable order."""
    return [INSPECTORATE_CONTACTS[i] for i in sorted(inspectorates)
            if i in INSPECTORATE_CONTACTS and i != without]


def routes(c: Classification) -> list[dict[str, Any]]:
    """Where parts of a complaint go besides the usual investigation (RULES.md section 5)."""
    found: list[dict[str, Any]] = []
    others = _named([i for i in c.inspectorates if i != "audit_commission"], without="ofsted")
    conduct_only = c.aspects == ["conduct"]
    if c.regime in ("jtai", "jar") and conduct_only and others and "ofsted" not in \
            c.inspectorates:
        # JTAI guidance Annex D; JAR para 8a: that inspectorate investigates and replies.
        found.append({"kind": "conduct_elsewhere", "contacts": others})
    elif c.regime == "jtai" and "conduct" in c.aspects and others:
        found.append({"kind": "conduct_case_by_case", "contacts": others})
    if c.regime == "jar" and len([i for i in c.inspectorates if i != "audit_commission"]) > 1 \
            and not conduct_only:
        found.append({"kind": "joint_panel", "contacts": others})  # JAR para 8c
    if c.regime == "jar" and (c.corporate_assessment or "audit_commission" in c.inspectorates):
        found.append({"kind": "corporate_assessment", "contacts": ["audit_commission"]})
    if c.regime == "slac" and "cqc" in c.inspectorates:
        found.append({"kind": "health_care", "contacts": ["cqc"]})  # SLAC para 64
    if c.regime == "external":
        found.append({"kind": "external", "contacts": others})  # JTAI guidance para 101
    return found


def join_names(names: list[str]) -> str:
    """'A', 'A and B', 'A, B and C'."""
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _with_names(found: list[dict[str, Any]], facts: LetterFacts) -> list[dict[str, Any]]:
    for route in found:
        people = [facts.contacts[key].model_dump() for key in route["contacts"]]
        route["people"] = people
        route["names"] = join_names([p["name"] for p in people])
    return found


def escalation_route(regime: str, received: date) -> str:
    """How someone unhappy with our response takes it further, for this regime and date.

    ``jar`` has its own review (JAR para 14). Otherwise Ofsted's procedure applies: the
    rule book's escalation rule in force that day says whether an internal review exists
    (respond within N working days) or whether people go straight to ICASO (respond: none,
    from April 2024, Ofsted's announcement of 24 November 2023).
    """
    if regime == "jar":
        return "jar_review"
    if regime == "external":
        return "external"
    from intake.rules.rulebook import get_rulebook

    found = get_rulebook().intents["escalation"].rule_for("ofsted", received)
    if found is None or found[1].respond.kind == "none":
        return "icaso"
    return "internal_review"


def _respond_by(d: Deadlines) -> str | None:
    value = d.respond_by
    if value is None:
        return None
    if isinstance(value, datetime):
        return format_datetime(value)
    return format_date(value)


def _address_lines(address: str | None) -> list[str]:
    if not address:
        return []
    parts = address.replace("\r", "\n").replace(",", "\n").split("\n")
    return [part.strip() for part in parts if part.strip()]


def _understood(c: Classification) -> dict[str, Any]:
    return {"aspects": sorted(c.aspects), "provider": c.provider, "urn": c.urn,
            "inspectorates": _named(c.inspectorates),
            "published": format_date(c.report_published) if c.report_published else None}


def _special_measures(c: Classification) -> bool:
    """Ofsted's complaints policy para 22: only judgement complaints are affected."""
    return c.special_measures and "judgement" in c.aspects and c.regime in ("ofsted", "jtai",
                                                                            "slac")


def build_context(kind: str, data: LetterInput, facts: LetterFacts, *, for_post: bool,
                  large_print: bool, letter_date: date | None) -> dict[str, Any]:
    """The template variables for one letter: plain values, every one always present."""
    c, d = data.classification, data.deadlines
    received = local_date(data.received_at)
    regime = c.regime if c.regime in REGIME_PROCEDURE else "ofsted"
    name = data.complainant.name or c.contact.name
    procedures, contacts = _views(facts)
    procedure = procedures[REGIME_PROCEDURE[regime]]
    sender = "jar_divisional_manager" if regime == "jar" else "ofsted_complaints"
    return {
        "kind": kind,
        "title": TITLES[kind],
        "subject_line": f"{SUBJECTS[kind]}: {data.reference}",
        "reference": data.reference,
        "name": name.strip() if name and name.strip() else None,
        "their_subject": data.subject.strip() if data.subject and data.subject.strip() else None,
        "received": format_date(received),
        "acknowledge_by": format_date(d.acknowledge_by),
        "respond_by": _respond_by(d),
        # "by Thursday 7 January 2027"; a rule without a response date never prints "None".
        "respond_when": f"by {_respond_by(d)}" if d.respond_by else "as soon as we can",
        "respond_within_hours": isinstance(d.respond_by, datetime),
        "regime": regime,
        "rule": d.rule,
        "thing": THINGS[kind],
        "complaint_letter": kind in COMPLAINT_KINDS,
        "signatory": procedure["signatory"] if kind in COMPLAINT_KINDS else "Ofsted",
        "sender": contacts[sender],
        "procedure": procedure,
        "procedures": procedures,
        "contacts": contacts,
        "understood": _understood(c),
        "out_of_time": bool(d.out_of_time),
        "time_limit_ends": format_date(d.time_limit_ends) if d.time_limit_ends else None,
        "missing": [] if regime == "external" else list(data.missing),
        "special_measures": _special_measures(c),
        "corporate_assessment": c.corporate_assessment,
        "routes": _with_names(routes(c), facts),
        "safeguarding": c.safeguarding,
        "escalation": escalation_route(regime, received),
        "for_post": for_post,
        "large_print": large_print,
        "letter_date": format_date(letter_date) if letter_date else None,
        "address_lines": _address_lines(data.complainant.address or c.contact.address),
    }
