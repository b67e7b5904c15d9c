"""Screening: mail from machines and spam is stored and labelled, never answered.

RFC 3834 section 2 asks responders not to answer bounces, auto-replies and list mail;
PRODUCT.md (Trust) asks us to honour the upstream server's spam, DMARC and SPF verdicts.
Each rule is one small function returning a reason or None; ``RULES`` is their order:
bounces first (so our own returned letters are matched), then spam, machine replies, lists.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from intake.cases.models import AUTOREPLY, BOUNCE, LIST, SPAM
from intake.records import ParsedMessage
from intake.settings import Settings


@dataclass(frozen=True)
class Screening:
    disposition: str  # bounce | autoreply | list | spam
    reason: str


_DAEMONS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon|mailerdaemon)@", re.I)
_BOUNCE_SUBJECT = re.compile(
    r"^(undeliver|delivery status notification|mail delivery (failed|failure|system|warning)"
    r"|returned mail|delivery failure|failure notice|non[- ]delivery|message not delivered"
    r"|mail could not be delivered|delivery has failed|delivery (delayed|warning)"
    r"|delayed mail|warning: (could not send|message .* delayed))",
    re.I,
)
# Non-delivery words that servers put anywhere in the subject (Exchange's localised NDRs).
_BOUNCE_WORDS = re.compile(r"\b(undeliverable|non remis|unzustellbar|onbestelbaar"
                           r"|non recapitabile)\b", re.I)
_AUTOREPLY_SUBJECT = re.compile(
    r"^(automatic reply|auto(matic)?[- ]?(reply|response)|out of (the )?office|autoreply"
    r"|abwesenheitsnotiz|r[ée]ponse automatique|on leave|away from (the )?office)\b", re.I
)


def _bounce(parsed: ParsedMessage, sender: str) -> str | None:
    headers = parsed.headers
    report = headers.get("dsn")
    if report is not None:
        return "delivery status report (multipart/report)"
    if "x-failed-recipients" in headers:
        return "X-Failed-Recipients header"
    if _DAEMONS.match(parsed.contact.email or "") or _DAEMONS.match(sender):
        return "from a mail delivery system"
    subject = parsed.subject or ""
    if _BOUNCE_SUBJECT.match(subject) or _BOUNCE_WORDS.search(subject):
        return "delivery failure subject"  # gateways bounce from real addresses too
    return None


def _auto_submitted(parsed: ParsedMessage, sender: str) -> str | None:
    value = str(parsed.headers.get("auto-submitted", "")).split(";")[0].strip().lower()
    if value and value != "no":  # RFC 3834 section 5
        return f"Auto-Submitted: {value[:40]}"
    return None


def _vacation_headers(parsed: ParsedMessage, sender: str) -> str | None:
    headers = parsed.headers
    for name in ("x-autoreply", "x-autorespond"):
        if name in headers:
            return f"{name} header"
    precedence = _precedence(parsed)
    if precedence == "auto_reply":
        return "Precedence: auto_reply"
    if "x-ms-exchange-inbox-rules-loop" in headers and not sender:
        return "Exchange inbox rule reply"
    if _AUTOREPLY_SUBJECT.match(parsed.subject or ""):
        return "vacation reply subject"
    if not sender:  # RFC 3834 section 3.1.2: responders use a null reverse-path
        return "null reverse-path"
    return None


# Headers that only list servers write (fml, Mailman 2, ezmlm), on posts and on notices.
_LIST_SERVER_HEADERS = ("x-mlserver", "x-ml-name", "x-mailman-version", "mailing-list")


def _list_mail(parsed: ParsedMessage, sender: str) -> str | None:
    headers = parsed.headers
    if "list-id" in headers:
        return "List-Id header"
    for name in _LIST_SERVER_HEADERS:
        if name in headers:
            return f"list server header ({name})"
    precedence = _precedence(parsed)
    if precedence in ("bulk", "list", "junk"):
        return f"Precedence: {precedence}"
    if "list-unsubscribe" in headers or "feedback-id" in headers:
        return "bulk mail (List-Unsubscribe)"
    return None


def _precedence(parsed: ParsedMessage) -> str:
    value = parsed.headers.get("precedence") or parsed.headers.get("x-precedence") or ""
    return str(value).strip().lower()


def _upstream_spam(parsed: ParsedMessage, sender: str) -> str | None:
    headers = parsed.headers
    if str(headers.get("x-spam-flag", "")).strip().lower() == "yes":
        return "X-Spam-Flag: YES"
    if str(headers.get("x-spam-status", "")).strip().lower().startswith("yes"):
        return "X-Spam-Status: Yes"
    if str(headers.get("x-spam", "")).strip().lower() in ("yes", "true"):
        return "X-Spam: yes (rspamd)"
    action = str(headers.get("x-rspamd-action", "")).strip().lower()
    if action in ("reject", "add header", "rewrite subject"):
        return f"rspamd action: {action}"
    return _authentication_failure(parsed)


_AUTH_FAIL = re.compile(r"\b(dmarc|spf)\s*=\s*fail\b", re.I)


def _authentication_failure(parsed: ParsedMessage) -> str | None:
    """A DMARC or SPF fail in the topmost Authentication-Results (the nearest upstream's).

    Lower ones were added before the mail reached our server and may be forged or stale.
    """
    results = parsed.headers.get("authentication-results") or []
    if results:
        match = _AUTH_FAIL.search(results[0])
        if match:
            return f"Authentication-Results: {match.group(1).lower()}=fail"
    return None


Rule = Callable[[ParsedMessage, str], str | None]
RULES: tuple[tuple[str, Rule], ...] = (
    (BOUNCE, _bounce),
    (SPAM, _upstream_spam),
    (AUTOREPLY, _auto_submitted),
    (LIST, _list_mail),
    (AUTOREPLY, _vacation_headers),
)


def screen(parsed: ParsedMessage, sender: str, settings: Settings, *,
           raw: bytes | None = None) -> Screening | None:
    """The first rule that says this mail must not be answered; None for a person's mail.

    ``sender`` is the envelope sender ("" for a null reverse-path). When ``raw`` is given
    and a spamd host is configured, SpamAssassin is asked as well.
    """
    for disposition, rule in RULES:
        reason = rule(parsed, sender)
        if reason:
            return Screening(disposition, reason)
    if raw is not None and settings.spamd_host:
        from intake.email.spamd import check_spam

        reason = check_spam(raw, settings)
        if reason:
            return Screening(SPAM, reason)
    return None
