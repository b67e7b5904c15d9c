"""Fields a formal complaint must give, pulled from the text (RULES.md section 2).

``000_…`` para 13: a complaint should give a concise account, the actions already taken,
the outcome expected, contact details and availability. The acknowledgement asks for
whatever is missing, so each extractor here is conservative: it returns ``None`` rather
than a guess, because a wrong value would stop the letter asking for the real one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

import phonenumbers

from intake.records import Contact
from nlp.dates import date_facts
from nlp.text import ci, lower

# --- URNs ------------------------------------------------------------------------------
# Ofsted unique reference numbers: 6 or 7 digits, or EY/SC + 6 digits (kept with prefix).
_URN_PREFIXED = ci(r"\b((?:EY|SC)\d{6})\b")
_URN_LABELLED = ci(
    r"\b(?:URN|U\.R\.N\.?|unique\s+reference\s+(?:number|no\.?)|reference\s+number|"
    r"ofsted\s+(?:number|reference|ref\.?))\s*(?:is|was|:|#|no\.?|number)?\s*[:#]?\s*"
    r"((?:EY|SC)?\d{6,7})\b"
)
# A bare 6- or 7-digit number in brackets, or right after a setting's name, is its URN:
# "Manor Croft (113998)", "Ellerby Academy 144019".
_URN_BRACKETED = re.compile(r"\(\s*((?:EY|SC)?\d{6,7})\s*\)")
_URN_AFTER_NAME = ci(
    r"\b(?:school|academy|college|primary|infants?|juniors?|secondary|nursery|pre-?school|"
    r"home|lodge|house|centre|federation|trust)\s*,?\s+((?:ey|sc)?\d{6,7})\b"
)
# A URN named as someone else's ("our sister school, URN ...") is not the one complained of.
_URN_OTHER = ci(
    r"\b(sister|other|previous|former|formerly|old|neighbouring|partner|not\s+(?:our|the))\b"
)


# Every URN pattern's match holds six digits in a row: a text without them has no URN,
# and this pattern, beginning with a digit, is found far faster than the four.
_SIX_DIGITS = re.compile(r"\d{6}")


def find_urns(text: str) -> list[str]:
    """Every URN in the text, in order, upper-cased, without repeats."""
    hits: list[tuple[int, str]] = []
    low = lower(text)
    if not _SIX_DIGITS.search(low):
        return []
    for pattern in (_URN_LABELLED, _URN_PREFIXED, _URN_BRACKETED, _URN_AFTER_NAME):
        for match in pattern.finditer(low):
            hits.append((match.start(1), match.group(1).upper()))
    seen: list[str] = []
    for _, urn in sorted(hits):
        if urn not in seen:
            seen.append(urn)
    return seen


def choose_urn(text: str, urns: list[str] | None = None) -> str | None:
    """The URN the complaint is about: the first one not introduced as another setting's.
    ``urns`` are the text's URNs when already found."""
    urns = find_urns(text) if urns is None else urns
    if len(urns) <= 1:
        return urns[0] if urns else None
    for urn in urns:
        where = text.upper().find(urn)
        before = lower(text[max(0, where - 60):where])
        if not _URN_OTHER.search(before):
            return urn
    return urns[0]


# --- contact details -------------------------------------------------------------------
_EMAIL = re.compile(r"\b[A-Za-z0-9._%+'-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b")


def find_emails(text: str) -> list[str]:
    """Email addresses in order, lower-cased, without repeats."""
    out: list[str] = []
    for match in _EMAIL.finditer(text):
        address = match.group(0).lower().rstrip(".")
        if address not in out:
            out.append(address)
    return out


# Candidate numbers: digits with spaces, dots, dashes or brackets between, optional "+".
_PHONE_CANDIDATE = re.compile(r"(?<![\w+])\+?\(?\d[\d ().-]{7,18}\d(?!\w)")
_NOT_DIGIT = re.compile(r"\D")


def phone_matches(text: str) -> list[tuple[int, int, str]]:
    """(start, end, formatted) for each valid phone number, national format for UK ones.

    A cheap pattern finds digit runs, and ``phonenumbers`` validates each: much faster
    than its own matcher on whole messages, and a date or URN never has enough digits.
    """
    out: list[tuple[int, int, str]] = []
    for match in _PHONE_CANDIDATE.finditer(text[:20000]):
        candidate = match.group(0)
        if not 9 <= len(_NOT_DIGIT.sub("", candidate)) <= 30:
            continue
        try:
            number = phonenumbers.parse(candidate, "GB")
            found = [(0, len(candidate), number)] if phonenumbers.is_valid_number(number) else []
        except phonenumbers.NumberParseException:
            found = []
        if not found:  # several numbers or a date run together: let the matcher split them
            found = [(m.start, m.end, m.number)
                     for m in phonenumbers.PhoneNumberMatcher(candidate, "GB")
                     if phonenumbers.is_valid_number(m.number)]
        for start, end, number in found:
            style = (phonenumbers.PhoneNumberFormat.NATIONAL if number.country_code == 44
                     else phonenumbers.PhoneNumberFormat.INTERNATIONAL)
            out.append((match.start() + start, match.start() + end,
                        phonenumbers.format_number(number, style)))
    return out


def find_phones(text: str) -> list[str]:
    """Valid phone numbers (UK by default), in national format for UK numbers, no repeats."""
    return list(dict.fromkeys(formatted for _, _, formatted in phone_matches(text)))


# --- who is writing --------------------------------------------------------------------
_ROLE_PATTERNS = [
    ("local_authority", ci(
        r"\b(director\s+of\s+children'?s\s+services|(?:assistant|deputy)\s+director|"
        r"on\s+behalf\s+of\s+(?:the\s+)?(?:\w+\s+){0,3}(?:council|local\s+authority)|"
        r"(?:our|the)\s+(?:council|local\s+authority)'?s?\s+(?:children'?s\s+)?services|"
        r"we\s+as\s+(?:a|the)\s+(?:council|local\s+authority)|as\s+the\s+local\s+authority|"
        r"I\s+am\s+the\s+(?:\w+\s+){0,3}(?:officer|manager)\s+(?:at|for)\s+(?:\w+\s+){0,3}"
        r"council)\b")),
    ("provider", ci(
        r"\b(I\s+am\s+(?:the\s+)?(?:\w+\s+)?(?:head\s*teacher|headmistress|headmaster|"
        r"principal|proprietor|owner|manager|registered\s+manager|childminder|chair\s+of\s+"
        r"governors|executive\s+head|leader)|as\s+(?:the\s+)?(?:head\s*teacher|principal|"
        r"proprietor|owner|(?:nursery|registered|setting)\s+manager|childminder|chair\s+of\s+"
        r"governors)|(?:our|my)\s+(?:school|nursery|academy|setting|pre-?school|college|"
        r"children'?s\s+home|provision|staff|pupils|trust)|I\s+am\s+a\s+(?:registered\s+)?"
        r"childminder|head\s*teacher\s+of|caller\s+is\s+(?:a|the)\s+(?:head\s*teacher|"
        r"(?:nursery\s+|registered\s+|setting\s+)?manager|owner|childminder|deputy\s+head|"
        r"principal|proprietor)|(?:head\s*teacher|registered\s+manager|nursery\s+owner|"
        r"nursery\s+manager|proprietor)\s+(?:of|at)\b)\b")),
    ("parent_carer", ci(
        r"\b((?:my|our)\s+(?:son|daughter|child|children|grandson|granddaughter|"
        r"grandchild|foster\s+child|step-?son|step-?daughter|little\s+one|boy|girl|kids?)|"
        r"I\s+am\s+(?:a\s+)?(?:parent|carer|mum|mother|dad|father|foster\s+carer)|"
        r"as\s+a\s+(?:parent|carer|foster\s+carer|mum|dad)|caller\s+is\s+(?:a|the)\s+(?:parent|"
        r"mother|father|mum|dad|grandparent|grandmother|grandfather|foster\s+carer)|"
        r"caller:?\s+(?:\w+\s+){0,3}(?:mum|dad|mother|father|parent|grandmother|grandfather)\b|"
        r"(?:mother|father|mum|dad|parent|grandparent)\s+of\s+(?:a|an|the|two|three)\b)\b")),
]


# Words every match of a role's pattern holds: a text with none of them skips the search.
_ROLE_NEEDS = {"local_authority": ("director", "council", "authority")}


def find_role(text: str) -> str | None:
    """The writer's role from first-person phrases; ``None`` when the text does not say."""
    best: tuple[int, str] | None = None
    low = lower(text)
    for role, pattern in _ROLE_PATTERNS:
        needs = _ROLE_NEEDS.get(role)
        if needs and not any(word in low for word in needs):
            continue
        match = pattern.search(low)
        if match and (best is None or match.start() < best[0]):
            best = (match.start(), role)
    return best[1] if best else None


_NAME = r"([A-Z][a-z'’-]+(?:[ \t]+[A-Z][a-z'’-]+){1,3})"  # one line: never a job title below
# The sign-off is found in lower-cased text; the name after it must be capitalised.
_SIGN_OFF = ci(
    r"(?:yours\s+(?:sincerely|faithfully)|kind\s+regards|best\s+regards|warm\s+regards|"
    r"many\s+thanks|regards|best\s+wishes|thank\s+you|thanks)[,.!]?[ \t]*\n+\s*"
)
_NAME_AT = re.compile(r"(?:(?:Mr|Mrs|Ms|Miss|Dr|Prof)\.?\s+)?" + _NAME + r"\b")
_MY_NAME = re.compile(r"\b(?:[Mm]y\s+name\s+is|I\s+am|I'm)\s+(?:(?:Mr|Mrs|Ms|Miss|Dr)\.?\s+)?"
                      + _NAME + r"\b")
_SIGN_OFF_CUE = re.compile(r"sincerely|faithfully|regards|thank|wishes")
_MY_NAME_CUES = ("my name", "i am ", "i'm ")
_NOT_NAMES = {"the", "a", "an", "head", "headteacher", "writing", "very", "not", "so",
              "deeply", "extremely", "really", "concerned", "unhappy", "disappointed"}


def find_name(text: str) -> str | None:
    """The writer's name from a sign-off or "my name is"; ``None`` when unsure."""
    low = lower(text)
    candidates: list[str] = []
    if _SIGN_OFF_CUE.search(low):
        for sign_off in _SIGN_OFF.finditer(low):
            match = _NAME_AT.match(text, sign_off.end())
            if match:
                candidates.append(match.group(1))
    if any(c in low for c in _MY_NAME_CUES):
        candidates += [m.group(1) for m in _MY_NAME.finditer(text)]
    for name in candidates:
        if name.split()[0].lower() not in _NOT_NAMES:
            return name.strip()
    return None


# A UK postcode ends a postal address; the short lines just above it are the rest.
_POSTCODE = re.compile(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[A-Z]{2}\b")
_ADDRESS_LINE = re.compile(r"^[\w ,.'’&/-]{2,60}$")


_STREET = re.compile(r"^\d|\b(?:Street|St|Road|Rd|Lane|Avenue|Close|Drive|Way|Place|Court|"
                     r"Crescent|Terrace|Grove|Gardens|Hill|House|Cottage|Farm|Flat)\b")


def find_address(text: str) -> str | None:
    """A postal address: the line with a UK postcode, and the lines above it up to the one
    with the house number or street (at most three)."""
    lines = text[:20000].splitlines()
    for i, line in enumerate(lines):
        if not _POSTCODE.search(line) or "@" in line or len(line) > 80:
            continue
        above = [a.strip().rstrip(",") for a in lines[max(0, i - 3):i]]
        street = min((j for j, a in enumerate(above) if _STREET.search(a)), default=None)
        if street is not None and all(_ADDRESS_LINE.match(a) for a in above[street:]):
            parts = above[street:] + [line.strip()]
        else:
            parts = [line.strip()]
        return ", ".join(parts)
    return None


# --- the setting complained about ------------------------------------------------------
_KIND = re.compile(
    r"\b(?:Primary\s+School|Secondary\s+School|Infant\s+School|Junior\s+School|High\s+School|"
    r"C\s?of\s?E\s+(?:Primary\s+)?School|School|Academy|Day\s+Nursery|Nursery|Pre-?[Ss]chool|"
    r"College|Children'?s\s+Home|Federation|Kindergarten|Playgroup|Montessori)\b"
)
# Capitalised words right before the kind of setting: "St Bede's RC Primary School".
_NAME_BEFORE = re.compile(r"((?:St\.?\s+)?(?:[A-Z][\w'’&-]*\s+){1,6})$")
_PROVIDER_LEAD = re.compile(r"^(?:The|At|Our|My|Dear|From|To|In|Of|As|Re|And)\s+")


def find_provider(text: str) -> str | None:
    """The first named school, nursery, college or home (proper-noun name + kind).

    The kind is found first, then the capitalised words before it: far cheaper than one
    pattern that tries every capitalised word in the message as a possible start.
    """
    for kind in _KIND.finditer(text):
        before = _NAME_BEFORE.search(text[max(0, kind.start() - 80):kind.start()])
        if before is None:
            continue
        name = before.group(1) + kind.group(0)
        while _PROVIDER_LEAD.match(name):
            name = _PROVIDER_LEAD.sub("", name)
        name = " ".join(name.split())
        if len(name.split()) >= 2:
            return name
    return None


# --- what the writer wants, has done, and when they can talk ---------------------------
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
_OUTCOME = ci(
    r"\b(I\s+would\s+like|we\s+would\s+like|I'd\s+like|we'd\s+like|I\s+want|we\s+want|"
    r"I\s+ask\s+(?:that|you)|we\s+ask\s+(?:that|you)|I\s+am\s+asking|we\s+are\s+asking|"
    r"we\s+request|I\s+request|I\s+expect|we\s+expect|I\s+am\s+seeking|we\s+are\s+seeking|"
    r"please\s+(?:re-?consider|review|withdraw|amend|correct|remove|change|delay|"
    r"reinspect|re-inspect)|should\s+be\s+(?:withdrawn|amended|corrected|removed|changed|"
    r"reviewed)|(?:want|would\s+like)\s+(?:the|an?|our)\s+\w+|desired\s+outcome|"
    r"what\s+I\s+want)\b",
)
_ACTIONS = ci(
    r"\b(already\s+(?:raised|spoken|spoke|complained|written|contacted|emailed|asked)|"
    r"(?:I|we)\s+(?:have\s+)?(?:raised|discussed)\s+(?:this|it|our|my|these)|"
    r"(?:I|we)\s+(?:have\s+)?(?:spoke|spoken|talked)\s+(?:to|with)|"
    r"(?:I|we)\s+(?:have\s+)?(?:contacted|emailed|phoned|rang|called|wrote\s+to|"
    r"written\s+to|complained\s+to)|at\s+the\s+(?:feedback|final)\s+meeting|"
    r"(?:I|we)\s+(?:have\s+)?sent\s+(?:our|my)\s+comments)\b",
)
_AVAILABILITY = ci(
    r"\b(I\s+am\s+available|I'm\s+available|we\s+are\s+available|available\s+(?:on|"
    r"between|after|before|any|most|to\s+(?:talk|speak|discuss))|best\s+time\s+to\s+"
    r"(?:call|reach|contact)|(?:call|ring|phone|reach)\s+me\s+(?:on|at|after|before|"
    r"between|any)|free\s+(?:on|between|after)|can\s+be\s+reached|can\s+talk\s+"
    r"(?:on|after|between))\b",
)


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """Where the non-empty pieces of ``_SENTENCE_BREAK.split(text)`` lie in ``text``."""
    spans, start = [], 0
    for brk in _SENTENCE_BREAK.finditer(text):
        spans.append((start, brk.start()))
        start = brk.end()
    spans.append((start, len(text)))
    return [(a, b) for a, b in spans if b > a]


def _sentences_matching(text: str, pattern: re.Pattern[str], limit: int = 2, *,
                        low: str | None = None,
                        spans: list[tuple[int, int]] | None = None) -> str | None:
    """The first sentences the (lower-case) pattern finds, in the writer's own words.

    Each sentence is searched on its own, as before, but only one in which a match of
    the whole text begins: a match inside a sentence is one in the whole text too (these
    patterns look at nothing but their own characters and word edges, and sentences are
    cut at spaces), so the others cannot match. ``low`` and ``spans`` are the text's
    :func:`lower` and :func:`sentence_spans`, shared by the extractors.
    """
    low = lower(text) if low is None else low
    hit = pattern.search(low)
    if hit is None:
        return None
    begins = hit.start()  # where the next match of the whole text begins
    found: list[str] = []
    for a, b in sentence_spans(text) if spans is None else spans:
        if begins < a:
            hit = pattern.search(low, a)
            if hit is None:
                break
            begins = hit.start()
        if begins >= b:
            continue
        sentence = text[a:b]
        if pattern.search(lower(sentence)):
            found.append(sentence.strip())
            if len(found) == limit:
                break
    if not found:
        return None
    joined = " ".join(found)
    return joined if len(joined) <= 400 else joined[:397].rstrip() + "..."


_SPECIAL_MEASURES = ci(r"\b(special\s+measures|serious\s+weaknesses)\b")
_CORPORATE = ci(r"\bcorporate\s+assessment\b")


@dataclass
class Extracted:
    """Everything the extractors found in one message."""

    urn: str | None
    urns: list[str]
    report_published: date | None
    draft_received: date | None
    inspection_dates: list[date]
    contact: Contact
    provider: str | None
    desired_outcome: str | None
    actions_taken: str | None
    availability: str | None
    special_measures: bool
    corporate_assessment: bool
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)


def extract(text: str, received: date, *, own_addresses: tuple[str, ...] = (),
            phones: list[str] | None = None) -> Extracted:
    """Run every extractor; ``own_addresses`` (our mailboxes) are never the complainant's;
    ``phones`` are numbers a pipeline component has already found and validated."""
    facts = date_facts(text, received)
    emails = [e for e in find_emails(text) if e not in own_addresses]
    phones = find_phones(text) if phones is None else phones
    urns = find_urns(text)
    contact = Contact(name=find_name(text), email=emails[0] if emails else None,
                      phone=phones[0] if phones else None, address=find_address(text),
                      role=find_role(text))
    low, spans = lower(text), sentence_spans(text)
    return Extracted(
        urn=choose_urn(text, urns),
        urns=urns,
        report_published=facts.report_published,
        draft_received=facts.draft_received,
        inspection_dates=facts.inspection_dates,
        contact=contact,
        provider=find_provider(text),
        desired_outcome=_sentences_matching(text, _OUTCOME, low=low, spans=spans),
        actions_taken=_sentences_matching(text, _ACTIONS, low=low, spans=spans),
        availability=_sentences_matching(text, _AVAILABILITY, limit=1, low=low, spans=spans),
        special_measures=bool(_SPECIAL_MEASURES.search(low)),
        corporate_assessment=bool(_CORPORATE.search(low)),
        emails=emails,
        phones=phones,
    )
