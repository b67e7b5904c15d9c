"""A keyword classifier: the fallback when no trained model ships, and the evaluation baseline.

Each label comes from the first keyword rule that fires, in RULES.md section 1's order,
with a fixed confidence that says how much a keyword match is worth. It is deliberately
simple, so that ``intake-bot nlp evaluate`` shows what training adds.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from intake.classify import ClassifyInput
from intake.records import Classification
from nlp.assemble import Labels, build, full_text
from nlp.rules import decide_inspectorates, decide_regime, find_mentions, safeguarding_rule
from nlp.text import ci, lower

INTENT_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("withhold_publication", ci(
        r"\b(withh[oe]ld|(?:delay|postpone|pause|halt|stop|suspend)\w*\s+(?:the\s+)?"
        r"publication|not\s+(?:to\s+)?be\s+published|(?:delay|postpone|pause|halt|stop)\w*"
        r"\s+(?:publishing|the\s+report)|withdraw\w*\s+(?:the|this|our)\s+report|"
        r"report\s+(?:should\s+)?(?:not\s+)?be\s+withdrawn|before\s+(?:it\s+is\s+)?published)")),
    ("escalation", ci(
        r"\b(icaso|adjudicator|ombudsman|internal\s+review|escalat\w+|"
        r"(?:unhappy|dissatisfied|not\s+satisfied|disappointed)\s+with\s+(?:the|your)\s+"
        r"(?:response|outcome|handling|reply|investigation)|review\s+of\s+(?:the|my|our)\s+"
        r"complaint|(?:response|outcome)\s+to\s+(?:my|our)\s+complaint)")),
    ("information_request", ci(
        r"\b(freedom\s+of\s+information|\bfoi\b|subject\s+access|data\s+protection|"
        r"\bSAR\b|copy\s+of\s+(?:the\s+)?(?:inspection\s+)?(?:evidence|notes)|"
        r"evidence\s+(?:base|notes|forms)|inspectors?'?\s+notes|personal\s+data)")),
    ("complaint", ci(
        r"\b(complain\w*|inspector\w*|inspection\w*|draft\s+report|report|judgement\w*|"
        r"grade[ds]?|rude|unprofessional|inaccura\w+|incorrect|wrong)")),
    ("provider_concern", ci(
        r"\b(concern\w*|worried|report\s+(?:a|this|the)\s+(?:nursery|school|childminder|home)|"
        r"staff\s+at|bullying|unsafe|neglect)")),
]
# "How do I complain?" is an enquiry even when the writer is unhappy (RULES.md 8).
_HOW_TO = ci(r"\bhow\s+(?:do|can|would)\s+(?:I|we)\s+(?:make\s+a\s+)?complain")

ASPECT_RULES: dict[str, re.Pattern[str]] = {
    "conduct": ci(
        r"\b(rude\w*|intimidat\w+|aggressive|bias\w*|conflict\s+of\s+interest|"
        r"unprofessional|insensitive|dismissive|shout\w*|belittl\w+|hostile|behaviou?r\s+of|"
        r"conduct|disrespect\w*|arrogan\w+|bull(?:y|ied|ying)\s+(?:staff|us|me)|"
        r"breach\w*\s+(?:of\s+)?confidential\w*|upset\s+(?:staff|pupils|children|two|the|our|"
        r"families|parents)|already\s+knew|already\s+decided|decided\s+before|never\s+going\s+"
        r"to\s+change|pre-?determined|pre-?judged|mind\s+was\s+made\s+up|(?:not|never)\s+"
        r"declared|did\s+not\s+declare|undeclared|without\s+(?:asking|consent|permission)|"
        r"searched|let\s+(?:him|her)self\s+in|took\s+a\s+(?:phone\s+)?call|on\s+(?:his|her)\s+"
        r"phone|did\s+not\s+introduce|humiliat\w+|sarcas\w+|patronis\w+|condescend\w+|"
        r"mock\w*|laugh\w*|derogator\w+|hung\s+up|raised\s+(?:his|her)\s+voice|in\s+tears|"
        r"shaken|previously\s+(?:worked|managed|employed)|used\s+to\s+work|(?:neighbouring|"
        r"rival|competing)\s+(?:authority|nursery|school|club|setting)|(?:sister|brother|friend)\s+"
        r"of\s+the|followed\s+me|would\s+not\s+wait|(?:leaving|left|kept)\s+(?:her|him|them|us|"
        r"me)\s+waiting|left\s+for\s+\d+\s+minutes)"),
    "judgement": ci(
        r"\b(judge?ments?|grade[ds]?|grading|requires\s+improvement|inadequate|"
        r"(?:should|deserved?)\s+(?:have\s+been|be)\s+(?:good|outstanding)|unfair\w*|"
        r"evidence\s+(?:was\s+)?(?:ignored|overlooked|disregarded)|ignored\s+(?:the\s+)?"
        r"evidence|conclusions?|findings?|downgrad\w+|does\s+not\s+reflect)"),
    "factual_accuracy": ci(
        r"\b(factual\w*|inaccura\w+|incorrect|wrong\s+(?:figure|number|name|date|data)\w*|"
        r"error\w*\s+(?:in|of)\s+fact|misspel\w+|not\s+true|untrue|mis-?stat\w+|"
        r"errors?\s+in\s+the\s+(?:draft|report))"),
    "process": ci(
        r"\b(notice|notification|timetable|scope|framework|procedure|not\s+followed|"
        r"did\s+not\s+(?:speak|meet|talk|look)|didn'?t\s+(?:speak|meet|talk|look)|"
        r"no\s+(?:one|chance)\s+|delay\w*|communicat\w+|feedback\s+meeting|handbook|"
        r"handling|how\s+the\s+inspection\s+was\s+(?:run|conducted|carried\s+out)|"
        r"(?:was|were)\s+not\s+(?:given|told|informed|allowed)|never\s+met|refused\s+to\s+"
        r"(?:meet|look|speak|consider)|would\s+not\s+(?:meet|look|wait|listen)|without\s+"
        r"(?:telling|notice|informing)|no\s+(?:response|reply|answer|draft)|not\s+(?:yet\s+)?"
        r"(?:received|had)\s+(?:a|the|our|any)\s+(?:draft|report|response)|working\s+days|"
        r"weeks\s+later|video\s+call|only\s+(?:spoke|met|looked)|did\s+not\s+(?:attend|include|"
        r"consider|read)|arrived\s+(?:at\s+\d|early|before|unannounced)|turned\s+up|without\s+"
        r"arranging|refused\s+to\s+show|did\s+not\s+(?:meet|see)|only\s+saw|(?:nobody|no\s+one)\s+"
        r"spoke|not\s+(?:been\s+)?(?:acknowledged|answered)|no\s+(?:review|acknowledge?ment)|"
        r"it\s+has\s+been\s+\d+|case\s+sample)"),
}


def keyword_intent(text: str) -> tuple[str, str]:
    """The intent from the first rule that fires, and the rule's name."""
    low = lower(text)
    if _HOW_TO.search(low):
        return "enquiry", "keyword.how_to_complain"
    for intent, pattern in INTENT_RULES:
        if pattern.search(low):
            return intent, f"keyword.{intent}"
    return "enquiry", "keyword.default_enquiry"


def keyword_labels(text: str) -> Labels:
    """Every label by keywords, with the fixed confidence a keyword match earns."""
    intent, intent_rule = keyword_intent(text)
    low = lower(text)
    aspects = [a for a, p in ASPECT_RULES.items() if p.search(low)]
    mentions = find_mentions(text)
    corporate = "corporate assessment" in " ".join(low.split())
    regime, regime_rule = decide_regime(mentions, intent, corporate)
    inspectorates = decide_inspectorates(mentions, intent, regime, corporate)
    safeguarding, harm = safeguarding_rule(text, intent == "provider_concern")
    confidence = {f"intent:{intent}": 0.5 if intent_rule.endswith("default_enquiry") else 0.7,
                  f"regime:{regime}": 0.7, "safeguarding": 0.7 if safeguarding else 0.6}
    confidence.update({f"aspect:{a}": 0.7 for a in aspects})
    confidence.update({f"inspectorate:{i}": 0.7 for i in inspectorates})
    rules = {"intent": intent_rule, "regime": regime_rule, "inspectorates": "keyword.mentions",
             "aspects": "keyword.aspects",
             "safeguarding": f"keyword.harm:{harm}" if harm else "keyword.no_harm_words"}
    return Labels(intent, aspects, inspectorates, regime, safeguarding, confidence, rules)


class KeywordClassifier:
    """Keyword rules for every label; fields from ``nlp.extract``."""

    version = "keywords-1"

    def classify(self, item: ClassifyInput) -> Classification:
        return build(item, keyword_labels(full_text(item)), self.version)

    def classify_many(self, items: Iterable[ClassifyInput]) -> list[Classification]:
        return [self.classify(item) for item in items]

