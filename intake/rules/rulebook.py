"""The deadline rules as validated data (RULES.md section 7).

The shipped defaults live in ``rules.toml`` next to this module. An administrator changes
them without a code change by naming an override file in the setting ``rules_file``
(``INTAKE_RULES_FILE``): its tables merge key by key over the defaults and the result is
validated as a whole, so a bad override is refused at start-up with the dotted path of the
bad field. ``RuleBook.version`` changes with every distinct override file, and each case
stores the version that produced its dates.

The override may also carry the letter facts (``contacts``, ``procedures``); they belong to
the letters code, which reads them from ``RuleBook.extra`` or :func:`load_override_data`.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from intake.settings import ConfigError, get_settings

REGIMES: tuple[str, ...] = ("ofsted", "jtai", "jar", "slac", "external")
INTENTS: tuple[str, ...] = (
    "complaint",
    "withhold_publication",
    "escalation",
    "information_request",
    "provider_concern",
    "enquiry",
)
# Top-level tables of an override that belong to the letters code: passed through as-is.
PASS_THROUGH_KEYS: tuple[str, ...] = ("contacts", "procedures")
RULE_KEYS: tuple[str, ...] = ("version", "closures", "regimes", "intents")

_RULE_ID = r"^[A-Z][A-Z0-9]*(-[A-Z0-9]+)*$"
PeriodKind = Literal["received", "working_days", "calendar_days", "months", "hours", "none"]
_COUNTED = {"working_days", "calendar_days", "months", "hours"}


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Period(_Data):
    """How a deadline is counted from the received date (or timestamp, for hours)."""

    kind: PeriodKind
    amount: int | None = Field(None, ge=1)
    source: str = Field(min_length=1)

    @model_validator(mode="after")
    def _amount_matches_kind(self) -> Period:
        if self.kind in _COUNTED and self.amount is None:
            raise ValueError(f"amount is required when kind is {self.kind!r}")
        if self.kind not in _COUNTED and self.amount is not None:
            raise ValueError(f"amount is not allowed when kind is {self.kind!r}")
        return self


class TimeLimit(_Data):
    """How long after publication a complaint is in time (not rolled past weekends)."""

    kind: Literal["working_days", "calendar_days", "months"]
    amount: int = Field(ge=1)
    from_: Literal["published"] = Field("published", alias="from")
    source: str = Field(min_length=1)


class MilestoneSpec(_Data):
    """An internal staff reminder, counted from the received date."""

    kind: Literal["working_days", "calendar_days"]
    amount: int = Field(ge=1)
    aspects: tuple[str, ...] | None = None
    source: str = Field(min_length=1)

    def applies_to(self, aspects: frozenset[str] | None) -> bool:
        """True unless the milestone is limited to aspects the case is known not to have."""
        return self.aspects is None or aspects is None or bool(aspects & set(self.aspects))


class Rule(_Data):
    """One row of RULES.md section 4: a rule id's periods and the dates it is in force."""

    description: str = ""
    effective_from: date | None = None
    effective_until: date | None = None
    regimes: tuple[str, ...] | None = None
    time_limit: TimeLimit | None = None
    acknowledge: Period
    respond: Period
    milestones: dict[str, MilestoneSpec] = Field(default_factory=dict)

    @field_validator("regimes")
    @classmethod
    def _known_regimes(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for name in value or ():
            if name not in REGIMES:
                raise ValueError(f"unknown regime {name!r} (known: {', '.join(REGIMES)})")
        return value

    @field_validator("acknowledge")
    @classmethod
    def _acknowledge_is_a_date(cls, value: Period) -> Period:
        if value.kind in ("hours", "none"):
            raise ValueError(f"an acknowledgement date cannot be of kind {value.kind!r}")
        return value

    @model_validator(mode="after")
    def _dates_in_order(self) -> Rule:
        start, until = self.effective_from, self.effective_until
        if start and until and start >= until:
            raise ValueError("effective_from must be before effective_until")
        return self

    def in_force(self, day: date) -> bool:
        """Whether the rule applies to a message received on ``day``."""
        after_start = self.effective_from is None or day >= self.effective_from
        return after_start and (self.effective_until is None or day < self.effective_until)


def _check_rule_ids(rules: dict[str, Rule]) -> None:
    for rule_id in rules:
        if not re.match(_RULE_ID, rule_id) or len(rule_id) > 32:
            raise ValueError(f"rule id {rule_id!r} must be upper-case words joined by '-', "
                             "at most 32 characters")


def _check_no_overlap(rules: dict[str, Rule], context: str = "") -> None:
    ordered = sorted(rules.items(), key=lambda item: item[1].effective_from or date.min)
    for (first_id, first), (next_id, nxt) in zip(ordered, ordered[1:], strict=False):
        first_end = first.effective_until or date.max
        if (nxt.effective_from or date.min) < first_end:
            raise ValueError(f"{context}rules {first_id} and {next_id} overlap in time")


class RegimeRules(_Data):
    """A regime's rules over time: together they cover every received date exactly once."""

    rules: dict[str, Rule] = Field(min_length=1)

    @model_validator(mode="after")
    def _cover_all_dates_once(self) -> RegimeRules:
        _check_rule_ids(self.rules)
        _check_no_overlap(self.rules)
        ordered = sorted(self.rules.items(), key=lambda item: item[1].effective_from or date.min)
        if ordered[0][1].effective_from is not None:
            raise ValueError(f"rule {ordered[0][0]} needs no effective_from (earliest rule)")
        if ordered[-1][1].effective_until is not None:
            raise ValueError(f"rule {ordered[-1][0]} needs no effective_until (latest rule)")
        for (first_id, first), (next_id, nxt) in zip(ordered, ordered[1:], strict=False):
            if first.effective_until != nxt.effective_from:
                raise ValueError(f"gap between rules {first_id} and {next_id}: "
                                 "effective_until must equal the next effective_from")
        for rule_id, rule in self.rules.items():
            if rule.regimes is not None:
                raise ValueError(f"rule {rule_id}: 'regimes' belongs only in intent rules")
        return self

    def rule_on(self, day: date) -> tuple[str, Rule]:
        """The rule id and rule in force for a message received on ``day``."""
        for rule_id, rule in self.rules.items():
            if rule.in_force(day):
                return rule_id, rule
        raise LookupError(f"no rule in force on {day}")  # unreachable after validation


class IntentRules(_Data):
    """What an intent changes: its own rules for some regimes, and the time-limit check."""

    out_of_time: bool
    rules: dict[str, Rule] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_rule_per_regime_and_day(self) -> IntentRules:
        _check_rule_ids(self.rules)
        for regime in REGIMES:
            applying = {rid: r for rid, r in self.rules.items()
                        if r.regimes is None or regime in r.regimes}
            _check_no_overlap(applying, f"for regime {regime}: ")
        return self

    def rule_for(self, regime: str, day: date) -> tuple[str, Rule] | None:
        """The intent's own rule for this regime and date, if it has one."""
        for rule_id, rule in self.rules.items():
            if (rule.regimes is None or regime in rule.regimes) and rule.in_force(day):
                return rule_id, rule
        return None


class RuleBook(_Data):
    """All deadline rules in force, with the version every computed date records."""

    version: str = Field(min_length=1, max_length=40)
    closures: frozenset[date] = frozenset()
    regimes: dict[str, RegimeRules]
    intents: dict[str, IntentRules]
    extra: dict[str, Any] = Field(default_factory=dict)

    # Checked before the contents, so a misspelt name is reported as such.
    @field_validator("regimes", mode="before")
    @classmethod
    def _every_regime(cls, value: Any) -> Any:
        if isinstance(value, dict):
            _same_names(set(value), REGIMES, "regime")
        return value

    @field_validator("intents", mode="before")
    @classmethod
    def _every_intent(cls, value: Any) -> Any:
        if isinstance(value, dict):
            _same_names(set(value), INTENTS, "intent")
        return value

    def regime_rule(self, regime: str, day: date) -> tuple[str, Rule]:
        """The regime's own rule in force on ``day`` (its complaint rule)."""
        return self.regimes[regime].rule_on(day)

    def intent_rule(self, intent: str, regime: str, day: date) -> tuple[str, Rule] | None:
        """The intent's own rule for the regime on ``day``; None means the regime's rule."""
        return self.intents[intent].rule_for(regime, day)


def _same_names(found: set[str], expected: tuple[str, ...], what: str) -> None:
    unknown = sorted(found - set(expected))
    if unknown:
        raise ValueError(f"unknown {what} {unknown[0]!r} (known: {', '.join(expected)})")
    missing = [name for name in expected if name not in found]
    if missing:
        raise ValueError(f"missing {what} {missing[0]!r}")


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Tables merge key by key; any other value (lists included) replaces the default."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc if part != "[key]") or "(top level)"


def _message(error: Any) -> str:
    ctx = error.get("ctx") or {}
    kind = error["type"]
    if kind == "greater_than_equal":
        return f"must be >= {ctx['ge']}"
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return "unknown key"
    return str(error["msg"]).removeprefix("Value error, ")


def _validate(data: dict[str, Any], origin: str) -> RuleBook:
    try:
        return RuleBook.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        raise ConfigError(f"{origin}: {_field_path(error['loc'])}: {_message(error)}") from None


def _read_toml(path: Path, origin: str) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{origin}: file does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{origin}: cannot be read ({exc.__class__.__name__})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{origin}: not valid TOML ({exc})") from None


def default_data() -> dict[str, Any]:
    """The shipped rules as plain data, before validation."""
    text = resources.files("intake.rules").joinpath("rules.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def load_override_data(path: Path) -> dict[str, Any]:
    """An override file's raw tables (the letters code reads ``contacts``/``procedures``).

    Raises ConfigError naming the file when it is missing, unreadable or not TOML, or when
    it has a top-level key that is neither a rule key nor a letters table.
    """
    origin = f"rules file {path}"
    data = _read_toml(Path(path), origin)
    unknown = sorted(set(data) - set(RULE_KEYS) - set(PASS_THROUGH_KEYS))
    if unknown:
        allowed = ", ".join(RULE_KEYS + PASS_THROUGH_KEYS)
        raise ConfigError(f"{origin}: {unknown[0]}: unknown top-level key (allowed: {allowed})")
    return data


def load_rulebook(override: Path | None = None) -> RuleBook:
    """The shipped rules, with ``override`` merged over them when given; validated.

    Raises ConfigError naming the file and the dotted field, e.g. ``rules file x.toml:
    regimes.jtai.rules.JTAI.respond.amount: must be >= 1``.
    """
    defaults = default_data()
    if override is None:
        return _validate(defaults, "shipped rules.toml")
    data = load_override_data(override)
    extra = {key: data.pop(key) for key in PASS_THROUGH_KEYS if key in data}
    merged = _merge(defaults, data)
    book = _validate(merged, f"rules file {override}")
    digest = hashlib.sha256(Path(override).read_bytes()).hexdigest()[:12]
    return book.model_copy(update={"version": f"{book.version}+override-{digest}",
                                   "extra": extra})


_cache: dict[Path | None, RuleBook] = {}


def get_rulebook() -> RuleBook:
    """The rules in force for the current settings (``rules_file``), loaded once per file.

    Call it at start-up so that a bad override stops the service with the field named.
    """
    path = get_settings().rules_file
    book = _cache.get(path)
    if book is None:
        book = _cache[path] = load_rulebook(path)
    return book


def clear_rulebook_cache() -> None:
    """Forget loaded rules, so an edited override file is read again."""
    _cache.clear()
