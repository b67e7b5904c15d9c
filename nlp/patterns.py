"""The names people use for inspectorates and inspection types, as data.

One list feeds both the spaCy EntityRuler (``nlp.pipeline``) and the keyword baseline
(``nlp.baseline``), so the two never disagree about what counts as a mention of, say,
HMI Probation. Labels are RULES.md section 1's.
"""

from __future__ import annotations

import re

from nlp.text import ci

# entity label -> phrases (matched case-insensitively on whole words).
INSPECTORATE_PHRASES: dict[str, list[str]] = {
    "ofsted": [
        "ofsted", "office for standards in education", "lead hmi", "lead inspector",
        "his majesty's inspector", "her majesty's inspector", "ofsted inspector",
        "early years inspector", "social care inspector", "hmi",
    ],
    "cqc": [
        "cqc", "care quality commission", "health inspector", "health inspectors",
        "health inspectorate", "healthcare inspector",
    ],
    "hmic": [
        "hmic", "hmicfrs", "hmicfrs inspector", "police inspectorate",
        "inspectorate of constabulary", "her majesty's inspectorate of constabulary",
        "his majesty's inspectorate of constabulary", "the police inspectorate",
        "police inspector",
        "police inspectors", "inspector of constabulary",
    ],
    "hmi_probation": [
        "hmi probation", "hmip", "probation inspectorate", "inspectorate of probation",
        "probation inspector", "probation inspectors", "yot inspector", "yot inspectors",
        "youth offending inspector", "youth justice inspector",
    ],
    "audit_commission": ["audit commission"],
}

# regime -> phrases naming that kind of inspection.
INSPECTION_PHRASES: dict[str, list[str]] = {
    "jtai": ["jtai", "joint targeted area inspection", "joint targeted area inspections",
             "joint targeted inspection", "targeted area inspection", "joint inspection",
             "joint inspection of our area", "joint inspectorate inspection"],
    "jar": ["jar", "joint area review", "joint area reviews", "annual performance assessment",
            "apa"],
    "slac": ["slac", "safeguarding and looked after children",
             "safeguarding and looked-after children",
             "inspection of safeguarding and looked after children services",
             "safeguarding and lac", "safeguarding & lac", "safeguarding and lac inspection",
             "looked after children inspection", "looked-after children inspection",
             "inspection of looked after children"],
}

# Inspectorates outside this bot's label set: a message solely about their work is
# signposted (regime ``external``, RULES.md 1).
OTHER_BODY_PHRASES = ["estyn", "care inspectorate wales", "education scotland",
                      "care inspectorate", "hmi prisons", "inspectorate of prisons",
                      "independent schools inspectorate", "isi inspection", "ofqual"]
# Ofsted's own work named as such: the message is not solely about another body's.
OFSTED_WORK = ci(
    r"\b(?:lead\s+inspector|ofsted\s+inspectors?|hmi\b(?!\s+probation)|ofsted'?s\s+"
    r"(?:inspection|report|judgement|findings|inspector)|inspected\s+by\s+ofsted|"
    r"ofsted\s+(?:inspection|report|judgement|visit)|by\s+ofsted|ofsted\s+and\s+(?:the\s+)?"
    r"(?:cqc|care\s+quality)|area\s+send)"
)
# Words that put a joint inspection's findings as a whole, or its whole team, in question:
# that is the lead inspectorate's, Ofsted's (``004_…`` Annex D).
WHOLE_INSPECTION = ci(
    r"\b(?:overall|as\s+a\s+whole|whole\s+(?:letter|report)|"
    r"(?:both|two|all)\s+(?:judgements|findings|matters|grades))\b"
)
# Words that say an inspection was one agency's alone.
SINGLE_AGENCY = ci(
    r"\b(?:single[- ]agency|police[- ]only|not\s+(?:a\s+)?joint|not\s+ofsted|"
    r"thematic\s+inspection\s+of\s+police|registered\s+with\s+(?:the\s+)?cqc)"
)

# Services whose mention, with no inspectorate named, points to a body (RULES.md 1).
SERVICE_PHRASES: dict[str, list[str]] = {
    "cqc": ["health visitor", "health visiting", "gp practice", "camhs", "nhs trust",
            "school nurse", "health services", "health partners"],
    "hmic": ["the police", "police force", "constabulary", "police officers"],
    "hmi_probation": ["probation", "youth offending", "yot", "youth justice"],
}


def phrase_regex(phrases: list[str]) -> re.Pattern[str]:
    """One case-insensitive whole-word regex for a phrase list (longest first)."""
    parts = sorted((re.escape(p).replace(r"\ ", r"\s+") for p in phrases), key=len,
                   reverse=True)
    return ci(r"(?<![\w-])(?:" + "|".join(parts) + r")(?![\w-])")


INSPECTORATE_RES = {label: phrase_regex(p) for label, p in INSPECTORATE_PHRASES.items()}
INSPECTION_RES = {label: phrase_regex(p) for label, p in INSPECTION_PHRASES.items()}
SERVICE_RES = {label: phrase_regex(p) for label, p in SERVICE_PHRASES.items()}
OTHER_BODY_RE = phrase_regex(OTHER_BODY_PHRASES)
# "JAR" and "APA" are ordinary words in lower case ("a jar of"): upper case only, matched
# on the original text; the long names are matched like every other phrase.
INSPECTION_RES["jar"] = phrase_regex([p for p in INSPECTION_PHRASES["jar"]
                                      if p not in ("jar", "apa")])
JAR_UPPER = re.compile(r"\b(?:JAR|APA)\b")
# "HMI" alone is Ofsted's inspector, but not inside "HMI Probation".
INSPECTORATE_RES["ofsted"] = re.compile(
    INSPECTORATE_RES["ofsted"].pattern.replace("|hmi)", "|hmi(?!\\s+probation))"))
