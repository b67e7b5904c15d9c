"""Rule decisions shared by the keyword baseline and the trained pipeline.

Which inspectorates and which regime a message is about follow from the bodies and
inspection types it names (RULES.md section 1 and 8); safeguarding has a rule layer that
the trained pipeline adds to, because a missed child at risk is far worse than a false
alarm (the alert costs a person a minute).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nlp.labels import NAMING_INTENTS
from nlp.patterns import INSPECTION_RES, INSPECTORATE_RES, SERVICE_RES


@dataclass(frozen=True)
class Mentions:
    """The inspectorates, inspection types and services a text names."""

    inspectorates: frozenset[str]
    inspections: frozenset[str]
    services: frozenset[str]


def find_mentions(text: str) -> Mentions:
    return Mentions(
        inspectorates=frozenset(k for k, r in INSPECTORATE_RES.items() if r.search(text)),
        inspections=frozenset(k for k, r in INSPECTION_RES.items() if r.search(text)),
        services=frozenset(k for k, r in SERVICE_RES.items() if r.search(text)),
    )


def decide_regime(mentions: Mentions, intent: str, corporate: bool = False) -> tuple[str, str]:
    """Regime and the rule behind it (RULES.md 1, regime; 8: provider concern is ofsted)."""
    if intent == "provider_concern":
        return "ofsted", "regime.provider_concern"
    for regime in ("jtai", "jar", "slac"):
        if regime in mentions.inspections:
            return regime, f"regime.named_{regime}"
    if corporate and "audit_commission" in mentions.inspectorates:
        return "jar", "regime.corporate_assessment"
    others = mentions.inspectorates - {"ofsted", "audit_commission"}
    if others and "ofsted" not in mentions.inspectorates:
        return "external", "regime.other_inspectorate_only"
    return "ofsted", "regime.default_ofsted"


def decide_inspectorates(mentions: Mentions, intent: str, regime: str) -> list[str]:
    """Bodies whose work the message is about (RULES.md 1 and 8)."""
    named = set(mentions.inspectorates)
    if intent in NAMING_INTENTS:
        return sorted(named)
    if regime in ("jtai", "slac", "jar"):
        named |= set(mentions.services)
    if not named:
        named.add("ofsted")  # school, early years and social care work (RULES.md 1)
    return sorted(named)


# Harm to a child now, or a risk still present (RULES.md 1, safeguarding).
_HARM = re.compile(
    r"\b(abus(?:e|ed|ing|ive)|neglect(?:ed|ing)?|exploit(?:ed|ation)|groom(?:ed|ing)|"
    r"(?:went|gone|goes|going|been)\s+missing|run\s+away|ran\s+away|self[- ]harm\w*|"
    r"suicid\w*|(?:in|immediate|serious)\s+danger|at\s+(?:serious\s+|immediate\s+)?risk|"
    r"not\s+safe|unsafe|hit(?:s|ting)?\s+(?:him|her|them|the\s+child|children|my)|"
    r"slapp\w+|bruis\w+|injur\w+|assault\w*|sexual\w*|inappropriate(?:ly)?\s+touch\w*|"
    r"touch(?:ed|ing)\s+(?:him|her|them|children)|unsupervised|left\s+alone|"
    r"locked\s+(?:in|out)|restrain\w*|violen\w+|threaten\w*|drunk|under\s+the\s+influence|"
    r"harm(?:ed|ing)?|hurt(?:ing)?|frightened\s+to\s+go\s+home|scared\s+to\s+go\s+home|"
    r"county\s+lines|knife|weapon|starv\w+|malnourish\w*|smack\w*)\b",
    re.IGNORECASE,
)
# Past and resolved: "was upset but is now safe and settled" (RULES.md 8).
_RESOLVED = re.compile(r"\b(now\s+(?:safe|settled|fine|happy)|no\s+longer\s+at\s+risk)\b",
                       re.IGNORECASE)


def safeguarding_rule(text: str) -> tuple[bool, str | None]:
    """True with the matched phrase when the text names a harm to a child."""
    match = _HARM.search(text)
    if match is None:
        return False, None
    if _RESOLVED.search(text) and not _HARM.search(text, match.end()):
        return False, None
    return True, match.group(0).lower()
