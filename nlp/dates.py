"""Dates in complaint text, and which date each one is (RULES.md sections 2, 3 and 8).

A complaint's time limit runs from the report's publication (``000_…`` para 18), so the
publication date must be told apart from the date a draft arrived and from the inspection
dates. Each date found is resolved against the received date ("3rd March" with no year is
the most recent 3 March not after the received date; "14/02/2025" is day-first) and given
a role from the words just before it in the same sentence.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta

from nlp.text import ci, lower

MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"),
            ("may",), ("june", "jun"), ("july", "jul"), ("august", "aug"),
            ("september", "sep", "sept"), ("october", "oct"), ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]

_MONTH = r"(?P<month>" + "|".join(sorted(MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>[0-3]?\d)(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>(?:19|20)\d\d)"
# "3 and 4 March", "10-14 June": the first day of a range, kept as a date of its own.
_DAY_RANGE = r"(?:(?P<first>[0-3]?\d)(?:st|nd|rd|th)?\s*(?:-|–|to|and|&)\s*)?"

# Each pattern names day, month and optionally year groups.
_PATTERNS = [
    # 14/02/2025, 14.02.25, 14-02-2025: day first (British usage).
    re.compile(r"\b(?P<day>[0-3]?\d)[/.](?P<month>[01]?\d)[/.](?P<year>(?:19|20)?\d\d)\b"),
    # 2025-02-14
    re.compile(r"\b(?P<year>(?:19|20)\d\d)-(?P<month>[01]\d)-(?P<day>[0-3]\d)\b"),
    # (the) 3rd (of) March (2025), also "3 and 4 March"
    ci(r"\b" + _DAY_RANGE + _DAY + r"(?:\s+of)?\s+" + _MONTH + r"(?:,?\s+" + _YEAR + r")?\b"),
    # March 3rd(, 2025)
    ci(r"\b" + _MONTH + r"\s+" + _DAY + r"(?:,?\s+" + _YEAR + r")?\b"),
]
_RELATIVE = ci(
    r"\b(?P<rel>yesterday|today|this morning|last\s+(?P<lastday>" + "|".join(WEEKDAYS) + r")"
    r"|(?:(?<=received\s)|(?<=published\s))(?P<rday>" + "|".join(WEEKDAYS) + r")"
    r"|on\s+(?P<onday>" + "|".join(WEEKDAYS) + r"))\b"
)

# Words before a date that say what the date is. Order matters: a draft is checked first
# because "the draft report was published to us" is still a draft.
_DRAFT = ci(r"\b(?:draft|pre-publication)\b")
_PUBLISHED = ci(
    r"\b(publish\w*|publication|report\s+(?:is\s+|was\s+)?dated|came\s+out|issued|"
    r"went\s+(?:live|online|up)|released|appeared\s+on)\b"
)
_RECEIVED = ci(r"\b(receiv\w*|got|arrived|sent\s+(?:to\s+)?us|sent\s+on|issued)\b")
_INSPECTED = ci(
    r"\b(inspect\w*|visit\w*|inspectors?\s+(?:came|arrived|were)|on\s+site|took\s+place)\b"
)
_AFTER_PUBLISHED = re.compile(r"\s*,?\s*(?:was\s+)?publish")
_AFTER_INSPECTED = re.compile(r"\s*(?:and\s+\w+\s+)?inspect")
_SENTENCE_START = re.compile(r"[.!?\n]\s*|;\s*")


@dataclass(frozen=True)
class FoundDate:
    """One date in the text, resolved, with the role its context gives it."""

    value: date
    start: int
    end: int
    role: str  # report_published, draft_received, inspection, other


def _year_for(day: int, month: int, received: date) -> int | None:
    """The most recent (day, month) not after the received date."""
    for year in (received.year, received.year - 1):
        try:
            candidate = date(year, month, day)
        except ValueError:
            continue
        if candidate <= received:
            return year
    return None


def _to_date(day: str, month: str, year: str | None, received: date) -> date | None:
    month_no = int(month) if month.isdigit() else MONTHS.get(month.lower().rstrip("."))
    if not month_no or not 1 <= month_no <= 12:
        return None
    day_no = int(day)
    if year is None:
        resolved = _year_for(day_no, month_no, received)
        if resolved is None:
            return None
        year_no = resolved
    else:
        year_no = int(year) if len(year) == 4 else 2000 + int(year)
    try:
        return date(year_no, month_no, day_no)
    except ValueError:
        return None


def _relative(match: re.Match[str], received: date) -> date | None:
    rel = match.group("rel").lower()
    if rel == "yesterday":
        return received - timedelta(days=1)
    if rel in ("today", "this morning"):
        return received
    weekday = (match.group("lastday") or match.group("onday") or match.group("rday")
               or "").lower()
    if not weekday:
        return None
    back = (received.weekday() - WEEKDAYS.index(weekday)) % 7
    if (rel.startswith("last") or match.group("rday")) and back == 0:
        back = 7
    if rel.startswith("on") and back == 0:
        return received
    return received - timedelta(days=back)


def _context(text: str, start: int) -> str:
    """The clause before a date: from the sentence start (at most 90 characters back)."""
    window_start = max(0, start - 90)
    window = text[window_start:start]
    cut = 0
    for match in _SENTENCE_START.finditer(window):
        cut = match.end()
    return window[cut:]


# "will be published on 22 May" is a plan, not a publication date (RULES.md 8).
_FUTURE = ci(r"\b(?:will|would|to|due\s+to|going\s+to)\s+be\s+(?:published|issued)|is\s+due|"
             r"due\s+(?:out|for\s+publication)|planned|expected\s+to\s+be\s+published")


def _role(text: str, start: int, end: int) -> str:
    before = _context(text, start)
    after = text[end:end + 40].split(".")[0]
    if _FUTURE.search(before):
        return "other"
    if _DRAFT.search(before) and (_RECEIVED.search(before) or _RECEIVED.search(after)
                                  or not _PUBLISHED.search(before)):
        return "draft_received"
    if _PUBLISHED.search(before) or _AFTER_PUBLISHED.match(after):
        return "report_published"
    if _DRAFT.search(after) and _RECEIVED.search(before):
        return "draft_received"
    if _INSPECTED.search(before) or _AFTER_INSPECTED.match(after):
        return "inspection"
    return "other"


# What each of _PATTERNS and _RELATIVE cannot match without: a text without it skips the
# scan. Each test is a part every match contains ("14/02" of "14/02/2025", "3 march" of
# "the 3rd of March"), and a pattern that begins with a digit or a month name is found far
# faster than one that begins with a word boundary, which is tried at every character.
_MONTH_NAMES = "|".join(sorted(MONTHS, key=len, reverse=True))
_NEEDS: dict[re.Pattern[str], re.Pattern[str] | tuple[str, ...]] = {
    _PATTERNS[0]: re.compile(r"\d[/.]\d"),
    _PATTERNS[1]: re.compile(r"\d-[01]\d-[0-3]\d"),
    _PATTERNS[2]: re.compile(r"\d(?:st|nd|rd|th)?(?:\s+of)?\s+(?:" + _MONTH_NAMES + ")"),
    _PATTERNS[3]: re.compile("(?:" + _MONTH_NAMES + r")\.?\s+\d"),
    _RELATIVE: ("yesterday", "today", "this morning", *WEEKDAYS),
}


def _may_match(pattern: re.Pattern[str], text: str) -> bool:
    """False only when ``pattern`` cannot match the (lower-case) text."""
    needs = _NEEDS.get(pattern)
    if needs is None:
        return True
    if isinstance(needs, re.Pattern):
        return needs.search(text) is not None
    return any(word in text for word in needs)


def find_dates(text: str, received: date) -> list[FoundDate]:
    """Every explicit or relative date in the text, in order, with its role."""
    text = lower(text)
    spans: list[tuple[int, int, date]] = []
    taken: list[tuple[int, int]] = []
    for pattern in _PATTERNS:
        if not _may_match(pattern, text):
            continue
        for match in pattern.finditer(text):
            if any(match.start() < e and s < match.end() for s, e in taken):
                continue
            groups = match.groupdict()
            value = _to_date(groups["day"], groups["month"], groups.get("year"), received)
            if value is not None:
                spans.append((match.start(), match.end(), value))
                taken.append((match.start(), match.end()))
                first = groups.get("first")
                start = _to_date(first, groups["month"], str(value.year), received) \
                    if first else None
                if start is not None and start < value:
                    spans.append((match.start(), match.end(), start))
    for match in _RELATIVE.finditer(text) if _may_match(_RELATIVE, text) else ():
        if any(match.start() < e and s < match.end() for s, e in taken):
            continue
        value = _relative(match, received)
        if value is not None:
            spans.append((match.start(), match.end(), value))
    spans.sort()
    return [FoundDate(v, s, e, _role(text, s, e)) for s, e, v in spans]


@dataclass(frozen=True)
class DateFacts:
    report_published: date | None
    draft_received: date | None
    inspection_dates: list[date]


def date_facts(text: str, received: date) -> DateFacts:
    """The dates that matter for deadlines; a date after the received date is ignored."""
    found = [d for d in find_dates(text, received) if d.value <= received]
    published = [d.value for d in found if d.role == "report_published"]
    drafts = [d.value for d in found if d.role == "draft_received"]
    inspections = sorted({d.value for d in found if d.role == "inspection"})
    return DateFacts(
        report_published=published[0] if published else None,
        draft_received=drafts[0] if drafts else None,
        inspection_dates=inspections,
    )
