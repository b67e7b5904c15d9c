"""Phrases that say which intent a message has (RULES.md section 1, intent).

Intents are ranked: a withhold request that also complains is ``withhold_publication``,
and a complaint about the handling of an earlier complaint is ``escalation``. Those two
are rare in any training data and the cost of missing them is high (a report published
that should have been held; a complainant sent back to step one), so their phrases are
rules that the trained pipeline defers to. The other cues nudge the model.
"""

from __future__ import annotations

from nlp.text import ci, lower

WITHHOLD = ci(
    r"\b(withhold\w*|(?:be|is|are)\s+withheld|"
    r"(?:delay|postpone|pause|halt|stop|suspend|hold|defer|pull)\w*\s+(?:the\s+|our\s+|its\s+"
    r"|their\s+|this\s+)?(?:\w+\s+){0,2}?(?:publication|publishing)|"
    r"(?:hold|pull)\w*\s+(?:the\s+|our\s+|their\s+|this\s+)?(?:\w+\s+){0,2}?"
    r"(?:report|letter)\b(?!\s+(?:from|to)\s)|"
    r"(?:do|should|must|will)\s+not\s+(?:be\s+)?publish|not\s+to\s+publish|"
    r"(?:is|be)\s+not\s+(?:finalised\s+or\s+)?published\s+(?:until|before|while)|"
    r"(?:report|letter)\s+(?:is\s+|be\s+)?withdrawn|withdraw\w*\s+(?:the|our|"
    r"this|its|their)\s+(?:\w+\s+)?(?:report|letter)|withdrawal\s+of\s+(?:the|our|this)?\s*"
    r"(?:\w+\s+)?(?:report|letter)|(?:report|it)\s+(?:is\s+|be\s+)?taken\s+down|"
    r"take\s+(?:it|the\s+report)\s+down|unpublish\s+(?:the|our|it)|remov\w+\s+(?:the|our)\s+"
    r"(?:published\s+)?report|publication\s+(?:of\s+(?:[\w']+\s+){1,6}?)?(?:to\s+be\s+|be\s+|is\s+)?(?:delayed|postponed|"
    r"moved|deferred|held|put\s+back|paused)|publish\w*\s+(?:a\s+week|\w+\s+days?)\s+later|"
    r"published\s+later|(?:wants?|asks?|asked|asking)\s+(?:for\s+)?(?:it|the\s+report)\s+(?:to\s+be\s+)?"
    r"held|moved?\s+back\s+by|(?:wants?|asks?|asked|asking)\s+(?:for\s+)?(?:the\s+|our\s+)?report\s+"
    r"(?:to\s+be\s+)?held|not\s+(?:be\s+)?published\s+with|(?:ask|asks|request|requests)\s+"
    r"that\s+(?:[\w'-]+\s+){0,10}?(?:is|be)\s+not\s+published|"
    # Everyday words read from dev-split misses: "please don't publish it as it stands",
    # "begging us not to put it live", "take down the report published this morning".
    r"don'?t\s+publish|not\s+(?:to\s+)?(?:put|go|going)\s+(?:it\s+|the\s+report\s+|this\s+)?"
    r"live|take\s+down\s+(?:the|our|this|that)\s+(?:\w+\s+){0,2}?report)"
)

ESCALATION = ci(
    r"\b(icaso|adjudicator|ombudsman|phso|internal\s+review|"
    r"(?:want|wish|intend|like|going|need|how)\s+(?:do\s+(?:i|we)\s+)?to\s+escalate|"
    r"escalat(?:e|ing)\s+(?:my|our|the|this|it|matters|further)|"
    r"escalation\s+of\s+(?:my|our|the|this)\s+complaint|"
    r"review\s+of\s+(?:the\s+|your\s+|our\s+)?(?:complaint\s+)?(?:handling|response|outcome|"
    r"decision)|(?:response|reply|outcome|letter|answer)\s+(?:to|about|on)\s+(?:my|our|the)\s+"
    r"(?:formal\s+)?(?:complaint|challenge)|(?:complaint|final)\s+response|not\s+upheld|"
    r"your\s+(?:final\s+)?(?:response|reply|answer)\s+(?:of|dated|says|said)\b|"
    r"outcome\s+of\s+(?:the|your|our)\s+(?:[\w']+\s+){0,3}?(?:review|investigation)|"
    r"(?:remain|still)\s+(?:dissatisfied|unhappy|not\s+satisfied)|"
    r"(?<!not\s)(?:unhappy|dissatisfied|not\s+satisfied|not\s+happy|disappointed)\s+with\s+"
    r"(?:the|your|ofsted'?s)\s+(?:final\s+)?(?:response|handling|reply|investigation)|"
    r"(?:do\s+not|don'?t|cannot)\s+accept\s+(?:the|your|this)\s+(?:response|outcome|findings\s+"
    r"of\s+(?:the|your)\s+investigation)|heard\s+nothing\s+(?:at\s+all\s+)?since\s+the\s+"
    r"acknowledge?ment|(?:complained|complaint)\s+in\s+\w+\s+and\s+(?:have\s+)?(?:heard|had)\s+"
    r"nothing)"
)

INFORMATION = ci(
    r"\b(freedom\s+of\s+information|foi\b|subject\s+access|data\s+protection\s+act|"
    r"\bsar\b|gdpr\s+request|copy\s+of\s+(?:the\s+|all\s+|any\s+)?(?:inspection\s+)?(?:evidence|"
    r"notes|records|data|information\s+(?:you|ofsted)\s+hold)|evidence\s+(?:notes|forms)|"
    r"inspectors?'?\s+notes|personal\s+(?:data|information)\s+(?:you|ofsted)\s+"
    r"hold|(?:send|provide|release|disclose)\s+(?:us|me)\s+(?:the|a\s+copy|copies))"
)

FOI = ci(r"\b(?:freedom\s+of\s+information|foi|subject\s+access)\b")

# "How do I complain?" is an enquiry, even from an unhappy writer (RULES.md 8).
HOW_TO = ci(
    r"\b(how\s+(?:do|can|would|should)\s+(?:I|we)\s+(?:make\s+a\s+|go\s+about\s+|raise\s+a\s+)?"
    r"(?:formal\s+)?complain\w*|who\s+(?:do|should)\s+(?:I|we)\s+complain\s+to|"
    r"where\s+(?:do|should|can)\s+(?:I|we)\s+(?:send|make|take)\s+(?:a|my|our)\s+complaint|"
    r"can\s+(?:I|we)\s+complain\s+(?:to\s+you|about)|is\s+(?:this|it)\s+something\s+I\s+can\s+"
    r"complain\s+about)"
)

COMPLAINT = ci(
    r"\b((?:wish|want|would\s+like|writing)\s+to\s+(?:make\s+a\s+)?(?:formal\s+)?"
    r"(?:complain|challenge|raise\s+a\s+(?:formal\s+)?complaint)|formal\s+(?:complaint|"
    r"challenge)|challenge\s+(?:to\s+)?(?:the\s+)?(?:\w+\s+){0,2}(?:findings|judgements?|"
    r"grades?)|factual\s+accuracy|comments\s+on\s+the\s+draft|(?:we|I)\s+(?:strongly\s+)?"
    r"disagree|complain\w*\s+about\s+(?:the\s+)?(?:\w+\s+){0,3}(?:inspect\w+|report|"
    r"judgement|visit))"
)
INSPECTION_WORDS = ci(r"\b(inspect\w*|judgement|draft|findings|hmi|jtai|"
                      r"joint\s+area\s+review)\b")


def rule_intent(text: str) -> tuple[str | None, str | None]:
    """The highest-ranked intent whose phrases occur, with the rule name; else (None, None).

    Only the first 4,000 characters are read: a long forwarded thread below the writer's
    own words must not turn a complaint into an escalation.
    """
    head = lower(text[:4000])
    withhold = WITHHOLD.search(head) is not None
    if not withhold and HOW_TO.search(head):
        return "enquiry", "rules.how_to_complain"
    if withhold:
        return "withhold_publication", "rules.withhold"
    if ESCALATION.search(head):
        if FOI.search(head):  # an FOI internal review stays an information request
            return "information_request", "rules.information_request"
        return "escalation", "rules.escalation"
    if INFORMATION.search(head):
        return "information_request", "rules.information_request"
    if COMPLAINT.search(head) and INSPECTION_WORDS.search(head):
        return "complaint", "rules.complaint"
    return None, None
