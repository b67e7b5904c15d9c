"""The label sets of RULES.md section 1, in the order the rules give them."""

from __future__ import annotations

# First match in this order wins (RULES.md 1, intent).
INTENTS = ("withhold_publication", "escalation", "complaint", "information_request",
           "provider_concern", "enquiry")
ASPECTS = ("conduct", "factual_accuracy", "judgement", "process")
INSPECTORATES = ("audit_commission", "cqc", "hmi_probation", "hmic", "ofsted")
REGIMES = ("ofsted", "jtai", "jar", "slac", "external")

# Intents whose messages carry aspects (RULES.md 1, aspects).
ASPECT_INTENTS = frozenset({"complaint", "escalation", "withhold_publication"})
# Intents for which every named inspectorate is listed (RULES.md 8).
NAMING_INTENTS = frozenset({"enquiry", "provider_concern", "information_request"})
