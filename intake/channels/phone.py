"""Phone intake: the transcription operator's form becomes an intake record.

Ofsted offers a transcription service for people who cannot complain in writing
(``000_…`` para 15). Operators fill the same fields in the Slack modal or at the terminal
(``intake-bot phone``); both end in :func:`phone_record`, and the pipeline reads the stored
form back with :func:`parse_phone`.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import click
import phonenumbers

from intake.errors import InputError
from intake.records import Contact, IntakeRecord, ParsedMessage

LONDON = ZoneInfo("Europe/London")

PHONE_FIELDS: tuple[str, ...] = (
    "caller_name", "phone", "email", "address", "role", "provider", "urn",
    "inspection_dates", "report_published", "what_happened", "desired_outcome",
    "actions_taken", "availability", "email_consent", "call_time", "operator",
    "large_print",  # optional: the caller asked for large-print letters (accessibility)
)
ROLES = ("provider", "parent_carer", "local_authority", "other")
REQUIRED = ("caller_name", "what_happened")
URN_RE = re.compile(r"^(?:(?:EY|SC)\d{6}|\d{6,7})$", re.IGNORECASE)
EMAIL_RE = re.compile(r"^[^@\s<>,;]+@[^@\s<>,;]+\.[^@\s<>,;]+$")
MAX_TEXT = 20000
FLAG_FIELDS = ("email_consent", "large_print")


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    return "" if value is None else str(value).strip()


def parse_date(value: str) -> date:
    """ISO (2026-11-06) or day-first (06/11/2026) dates, as operators type them."""
    value = value.strip()
    for fmt in ("%Y-%m-%d", "%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d %B %Y", "%d %b %Y"):
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    raise ValueError(f"{value!r} is not a date (use 2026-11-06 or 06/11/2026)")


def parse_call_time(value: Any, now: datetime) -> datetime:
    """An aware call time; a time without offset is Europe/London; empty means now."""
    if value in (None, ""):
        return now
    if isinstance(value, datetime):
        dt = value
    else:
        try:
            dt = datetime.fromisoformat(str(value).strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date and time (use 2026-11-23T10:15)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=LONDON)
    return dt


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value or "").strip().lower()
    if text in ("", "0", "false", "no", "n", "off"):
        return False
    if text in ("1", "true", "yes", "y", "on"):
        return True
    raise ValueError(f"{value!r} is not yes or no")


def _check_contacts(fields: dict[str, Any], errors: dict[str, str]) -> None:
    email, phone, address = _text(fields, "email"), _text(fields, "phone"), _text(fields,
                                                                                   "address")
    if email and not EMAIL_RE.match(email):
        errors["email"] = "Enter an email address like name@example.com"
    if phone:
        try:
            number = phonenumbers.parse(phone, "GB")
            if not phonenumbers.is_possible_number(number):
                errors["phone"] = "Enter a phone number with its area code"
        except phonenumbers.NumberParseException:
            errors["phone"] = "Enter a phone number, like 0161 496 0000"
    try:
        consent = parse_bool(fields.get("email_consent"))
    except ValueError:
        errors["email_consent"] = "Answer yes or no"
        consent = False
    try:
        parse_bool(fields.get("large_print"))
    except ValueError:
        errors["large_print"] = "Answer yes or no"
    if not (email or phone or address):
        errors["phone"] = "Give at least one way to reach the caller: phone, email or address"
    elif not (email and consent) and not address:
        errors["address"] = ("Enter a postal address: without an email the caller agreed to, "
                             "the letter goes by post")


def normalise_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """A form read from JSON in the shapes an operator's tooling may write.

    Numbers become text (``"urn": 123456``) and a list of inspection dates becomes one
    line; anything else that is not text stays as it is for validation to name.
    """
    out = dict(fields)
    for name, value in fields.items():
        if name in FLAG_FIELDS or isinstance(value, bool):
            continue
        if isinstance(value, int | float):
            out[name] = str(value)
        elif (name == "inspection_dates" and isinstance(value, list)
              and all(isinstance(item, str) for item in value)):
            out[name] = ", ".join(item.strip() for item in value if item.strip())
    return out


def _check_types(fields: dict[str, Any], errors: dict[str, str]) -> None:
    """Text fields hold text: a list or object would reach the letter as Python syntax."""
    for name in PHONE_FIELDS:
        value = fields.get(name)
        if name in FLAG_FIELDS or name == "call_time" or value is None:
            continue
        if not isinstance(value, str):
            errors[name] = "Enter text"


def validate_phone_fields(fields: dict[str, Any], now: datetime | None = None) -> dict[str, str]:
    """Field name -> error message, for inline errors in the modal and the terminal."""
    now = now or datetime.now(UTC)
    errors: dict[str, str] = {}
    unknown = set(fields) - set(PHONE_FIELDS)
    for name in sorted(unknown):
        errors[name] = f"Unknown field {name!r}"
    _check_types(fields, errors)
    for name in REQUIRED:
        if not _text(fields, name):
            errors.setdefault(name, "This is required")
    for name in PHONE_FIELDS:
        if len(_text(fields, name)) > MAX_TEXT:
            errors[name] = f"Keep this under {MAX_TEXT} characters"
    _check_contacts(fields, errors)
    role = _text(fields, "role")
    if role and role not in ROLES:
        errors["role"] = "Choose provider, parent_carer, local_authority or other"
    urn = _text(fields, "urn")
    if urn and not URN_RE.match(urn.replace(" ", "")):
        errors["urn"] = "A URN is 6 or 7 digits, or EY/SC and 6 digits"
    if _text(fields, "report_published"):
        try:
            published = parse_date(_text(fields, "report_published"))
            if published > now.astimezone(LONDON).date():
                errors["report_published"] = "The publication date is in the future"
        except ValueError as exc:
            errors["report_published"] = str(exc)
    try:
        call_time = parse_call_time(fields.get("call_time"), now)
        if call_time > now + timedelta(minutes=5):
            errors["call_time"] = "The call time is in the future"
    except ValueError as exc:
        errors["call_time"] = str(exc)
    return errors


def phone_record(fields: dict[str, Any], *, operator: str, now: datetime) -> IntakeRecord:
    """The operator's form as an intake record; the call time is the received time."""
    errors = validate_phone_fields(fields, now)
    if errors:
        name, message = next(iter(errors.items()))
        raise InputError(f"{name}: {message}")
    call_time = parse_call_time(fields.get("call_time"), now)
    form = {k: fields.get(k) for k in PHONE_FIELDS if fields.get(k) not in (None, "")}
    form["operator"] = operator
    form["call_time"] = call_time.isoformat()
    raw = json.dumps(form, sort_keys=True, ensure_ascii=False).encode("utf-8")
    return IntakeRecord(channel="phone", external_id=f"phone-{uuid.uuid4()}",
                        received_at=call_time, raw=raw, sender=operator)


def _compose_text(form: dict[str, Any]) -> str:
    """What the classifier reads: the caller's account, then the structured answers."""
    parts = [_text(form, "what_happened")]
    labelled = (("provider", "Provider"), ("urn", "URN"), ("inspection_dates",
                "Inspection dates"), ("report_published", "Report published"),
                ("desired_outcome", "Wants"), ("actions_taken", "Actions already taken"))
    for key, label in labelled:
        if _text(form, key):
            parts.append(f"{label}: {_text(form, key)}")
    return "\n".join(parts)


def parse_phone(raw: bytes) -> ParsedMessage:
    """Read a stored phone form back (the pipeline's parser for the phone channel)."""
    try:
        form = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"phone form is not valid JSON: {exc.__class__.__name__}") from None
    if not isinstance(form, dict) or not _text(form, "what_happened"):
        raise InputError("phone form has no account of what happened")
    consent = parse_bool(form.get("email_consent"))
    contact = Contact(name=_text(form, "caller_name") or None,
                      email=_text(form, "email") or None, phone=_text(form, "phone") or None,
                      address=_text(form, "address") or None, role=_text(form, "role") or None,
                      email_consent=consent)
    text = _compose_text(form)
    reply = contact.email if (contact.email and consent) else None
    return ParsedMessage(text=text, new_text=text, subject=None, contact=contact,
                         reply_address=reply, structured=form)


def _prompt_fields() -> dict[str, Any]:
    """Ask for each field at the terminal, repeating until the form validates.

    Prompts go to stderr so that stdout carries only the JSON result, as with ``--json``.
    """
    fields: dict[str, Any] = {}
    questions = [
        ("caller_name", "Caller's name"), ("phone", "Phone"), ("email", "Email"),
        ("email_consent", "May we email the letter? (yes/no)"), ("address", "Postal address"),
        ("role", f"Role ({', '.join(ROLES)})"), ("provider", "Provider (school, nursery...)"),
        ("urn", "URN"), ("inspection_dates", "Inspection dates"),
        ("report_published", "Report published (date)"), ("what_happened", "What happened"),
        ("desired_outcome", "What they want to happen"),
        ("actions_taken", "Actions already taken"), ("availability", "When they can talk"),
        ("call_time", "Call time (blank for now)"),
    ]
    for name, label in questions:
        fields[name] = click.prompt(label, default="", show_default=False, err=True)
    while errors := validate_phone_fields({k: v for k, v in fields.items() if v != ""}):
        for name, message in errors.items():
            click.echo(f"  {name}: {message}", err=True)
            fields[name] = click.prompt(dict(questions).get(name, name), default="",
                                        show_default=False, err=True)
    return {k: v for k, v in fields.items() if v != ""}


@click.command("phone")
@click.option("--json", "json_file", type=click.Path(dir_okay=False, path_type=Path),
              help="read the form fields from a JSON file ('-' for stdin)")
@click.option("--operator", default=None, help="operator name (default: the form's operator)")
def phone_command(json_file: Path | None, operator: str | None) -> None:
    """Log a complaint taken by phone; it goes through the same pipeline as email."""
    from intake.runner import run_once

    if json_file is not None:
        try:
            data = sys.stdin.buffer.read() if str(json_file) == "-" else json_file.read_bytes()
            fields = json.loads(data.decode("utf-8-sig"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise click.BadParameter(f"cannot read JSON: {exc}", param_hint="--json") from None
        if not isinstance(fields, dict):
            raise click.BadParameter("must hold a JSON object", param_hint="--json")
        fields = normalise_fields(fields)
    else:
        fields = _prompt_fields()
    operator = operator or str(fields.pop("operator", "") or "") or "terminal"
    now = datetime.now(UTC)
    errors = validate_phone_fields(fields, now)
    if errors:
        for name, message in errors.items():
            click.echo(f"error: {name}: {message}", err=True)
        sys.exit(2)
    record = phone_record(fields, operator=operator, now=now)
    click.echo(json.dumps(run_once(record), indent=2))
