"""Letter facts (contacts, procedure titles, paragraph numbers) loaded as validated data.

Contact details and procedure titles change more often than code does (RULES.md section 7),
so they live in ``intake/rules/letters.toml``. The administrator's rules file may override
the ``contacts`` and ``procedures`` tables entry by entry; a bad value is refused at start-up
with a :class:`~intake.settings.ConfigError` naming the field.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from intake.settings import ConfigError, get_settings

FACTS_FILE = Path(__file__).resolve().parents[1] / "rules" / "letters.toml"

# Paragraph keys the templates cite, per procedure: an override cannot drop one.
REQUIRED_PARAGRAPHS: dict[str, tuple[str, ...]] = {
    "ofsted": ("information_rights", "confidentiality", "what_to_include", "time_limit",
               "evidence", "withhold", "single_investigation", "special_measures", "telephone",
               "respond", "internal_review", "review_scope", "review_response", "final_step",
               "icaso", "icaso_role",
               "ombudsman"),
    "ofsted_changes": (),
    "jtai": ("complaints", "annex", "time_limit", "respond", "conduct", "withhold"),
    "jar": ("confidentiality", "time_limit", "acknowledge", "conduct", "general",
            "joint_panel", "corporate_assessment", "respond", "publication", "single_contact",
            "referred_review", "review"),
    "slac": ("health_care", "time_limit", "assessment"),
}
REQUIRED_CONTACTS = ("ofsted_complaints", "ofsted_helpline", "jar_divisional_manager", "icaso",
                     "phso", "cqc", "hmicfrs", "hmi_probation", "audit_commission",
                     "ofsted_information_rights", "ofsted_provider_concerns", "local_authority")


class Contact(BaseModel):
    """A body a letter sends people to. Links carry a text that makes sense on its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    address: tuple[str, ...] = ()
    email: str | None = None
    phone: str | None = None
    web: str | None = None
    web_text: str | None = None
    note: str | None = None

    @field_validator("email")
    @classmethod
    def _email_has_at(cls, value: str | None) -> str | None:
        if value is not None and "@" not in value:
            raise ValueError(f"{value!r} is not an email address")
        return value

    @field_validator("web")
    @classmethod
    def _web_is_absolute(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError(f"{value!r} must start with https://")
        return value

    @model_validator(mode="after")
    def _link_has_text(self) -> Contact:
        if self.web and not self.web_text:
            raise ValueError("web_text is required with web (links must make sense alone)")
        return self


class Procedure(BaseModel):
    """A published procedure as letters cite it: by title and paragraph, never by file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    title: str = Field(min_length=1)
    signatory: str = Field(min_length=1)
    time_limit: str = ""
    paragraphs: dict[str, str] = Field(default_factory=dict)


class LetterFacts(BaseModel):
    """Everything letters state that is not computed: see ``letters.toml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: str = Field(min_length=1)
    contacts: dict[str, Contact]
    procedures: dict[str, Procedure]

    @model_validator(mode="after")
    def _has_what_letters_cite(self) -> LetterFacts:
        for key in REQUIRED_CONTACTS:
            if key not in self.contacts:
                raise ValueError(f"contacts.{key}: missing")
        for proc, keys in REQUIRED_PARAGRAPHS.items():
            if proc not in self.procedures:
                raise ValueError(f"procedures.{proc}: missing")
            for key in keys:
                if key not in self.procedures[proc].paragraphs:
                    raise ValueError(f"procedures.{proc}.paragraphs.{key}: missing")
        return self


def _merge_table(base: dict[str, Any], override: Mapping[str, Any], where: str) -> None:
    """Override entries key by key; a new entry name is refused (it would be a typo)."""
    for name, entry in override.items():
        if name not in base:
            raise ConfigError(f"{where}.{name}: unknown entry (known: {', '.join(sorted(base))})")
        if not isinstance(entry, Mapping):
            raise ConfigError(f"{where}.{name}: must be a table")
        merged = dict(base[name])
        for key, value in entry.items():
            if key == "paragraphs" and isinstance(value, Mapping):
                merged[key] = {**merged.get(key, {}), **value}
            else:
                merged[key] = value
        base[name] = merged


def _validation_message(exc: ValidationError, source: str) -> str:
    err = exc.errors()[0]
    field = ".".join(str(part) for part in err["loc"])
    msg = err["msg"].removeprefix("Value error, ")
    return f"{source}: {field + ': ' if field else ''}{msg}"


def load_letter_facts(override: Mapping[str, Any] | None = None,
                      path: Path = FACTS_FILE) -> LetterFacts:
    """Read the shipped facts, apply the override file's tables, validate the result."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"letter facts {path.name}: cannot be read ({exc})") from None
    source = path.name
    if override:
        source = "rules_file"
        for table in ("contacts", "procedures"):
            if table in override:
                if not isinstance(override[table], Mapping):
                    raise ConfigError(f"rules_file: {table} must be a table")
                _merge_table(data[table], override[table], f"rules_file: {table}")
    try:
        return LetterFacts.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_validation_message(exc, source)) from None


def _override_data(rules_file: Path | None) -> Mapping[str, Any] | None:
    """The administrator's rules file as raw data (RuleBook reads and checks the rest)."""
    if rules_file is None:
        return None
    from intake.rules.rulebook import load_override_data

    return load_override_data(rules_file)


@lru_cache(maxsize=4)
def _facts_for(rules_file: Path | None) -> LetterFacts:
    return load_letter_facts(_override_data(rules_file))


def get_letter_facts() -> LetterFacts:
    """The facts in force for the current settings (cached per rules file)."""
    return _facts_for(get_settings().rules_file)


def clear_letter_facts_cache() -> None:
    """Forget loaded facts, so an edited rules file is read again."""
    _facts_for.cache_clear()
