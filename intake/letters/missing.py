"""What a formal complaint still lacks, so the acknowledgement can ask for it.

Ofsted's complaints policy (``000_…`` para 13) asks for a concise account of the concerns,
the actions already taken to resolve them, what the complainant expects to happen,
contact details and availability, so that the investigating officer can telephone
(para 23). Each item missing gets its own question in the letter.
"""

from __future__ import annotations

from intake.records import Classification, Contact

# Order matches para 13, and is the order the letter asks in.
MISSING_ITEMS: tuple[str, ...] = (
    "account", "actions_taken", "desired_outcome", "contact_details", "availability",
)
# A formal complaint is answered in writing (para 25); these intents need para 13's details.
_NEEDS_DETAILS = frozenset({"complaint", "withhold_publication"})
# Fewer words than this cannot be "a concise account of their concerns".
MIN_ACCOUNT_WORDS = 15


def _has_text(value: str | None) -> bool:
    return bool(value and value.strip())


def missing_information(c: Classification, complainant: Contact, text: str) -> list[str]:
    """The para 13 items the message does not give, in the order the letter asks for them.

    Only complaints (and withhold requests, which come with one) need them; other intents
    get an empty list. Contact details mean a telephone number: the investigating officer
    telephones (para 23), and an email address alone does not allow that.
    """
    if c.intent not in _NEEDS_DETAILS:
        return []
    missing: list[str] = []
    if len((text or "").split()) < MIN_ACCOUNT_WORDS:
        missing.append("account")
    if not _has_text(c.actions_taken):
        missing.append("actions_taken")
    if not _has_text(c.desired_outcome):
        missing.append("desired_outcome")
    if not (_has_text(complainant.phone) or _has_text(c.contact.phone)):
        missing.append("contact_details")
    if not _has_text(c.availability):
        missing.append("availability")
    return missing
