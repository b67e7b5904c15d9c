"""One documented settings object for the whole bot.

Every setting comes from an ``INTAKE_*`` (or ``SLACK_*``) environment variable, or from the
same key in lower case without the prefix in the TOML file named by ``INTAKE_CONFIG``
(default ``intake.toml`` when it exists). The environment wins over the file. Code never
reads the environment directly: it asks :func:`get_settings`, and tests override it with
:func:`override_settings`.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings.exceptions import SettingsError

# Settings whose environment variable is not INTAKE_<NAME>.
_SLACK_ENV = {
    "slack_bot_token": "SLACK_BOT_TOKEN",
    "slack_signing_secret": "SLACK_SIGNING_SECRET",
    "slack_app_token": "SLACK_APP_TOKEN",
    "slack_api_url": "SLACK_API_URL",
}


class ConfigError(Exception):
    """A setting has a bad value; the message names the setting."""


def _csv(value: Any) -> Any:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """All configuration. Field docs double as the README's configuration reference."""

    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", frozen=True)

    # --- storage -------------------------------------------------------------------
    database_url: str = Field("sqlite:///var/intake.db", description="SQLAlchemy URL")
    attachments_in_db: bool = Field(
        True, description="store attachment bytes in the database (else under attachments_dir)"
    )
    attachments_dir: Path = Field(Path("var/attachments"), description="attachment folder")
    spool_dir: Path = Field(Path("var/spool"), description="fsynced spool used when the "
                            "database cannot take a message")
    smtp_spool: bool = Field(False, description="when the database is down, accept mail into "
                             "spool_dir (250) instead of answering 451")

    # --- SMTP intake ---------------------------------------------------------------
    smtp_host: str = Field("127.0.0.1", description="where the SMTP intake listens")
    smtp_port: int = Field(8025, ge=0, le=65535, description="SMTP intake port (0: any free)")
    smtp_lmtp: bool = Field(False, description="speak LMTP instead of SMTP (behind Postfix/Exim)")
    smtp_tls_cert: Path | None = Field(None, description="certificate file: enables STARTTLS")
    smtp_tls_key: Path | None = Field(None, description="private key for STARTTLS")
    mailboxes: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["enquiries@localhost"],
        description="comma-separated addresses accepted as recipients",
    )
    max_message_bytes: int = Field(26214400, gt=0, description="SMTP SIZE limit")
    max_replies_per_sender_per_day: int = Field(
        5, ge=0, description="automatic replies to one address per day (loop protection)"
    )
    spamd_host: str | None = Field(None, description="SpamAssassin spamd host (unset: off)")
    spamd_port: int = Field(783, ge=1, le=65535, description="spamd port")
    clamd_socket: Path | None = Field(None, description="ClamAV clamd local socket: scan "
                                      "attachments (unset, and no clamd_host: off)")
    clamd_host: str | None = Field(None, description="ClamAV clamd TCP host (when no "
                                   "clamd_socket)")
    clamd_port: int = Field(3310, ge=1, le=65535, description="clamd TCP port")
    clamd_timeout_seconds: float = Field(60.0, gt=0, description="longest wait for one "
                                         "clamd scan")
    quarantine_dir: Path = Field(Path("var/quarantine"), description="folder for infected "
                                 "or unscannable attachments, outside the normal store")

    # --- outbound mail -------------------------------------------------------------
    relay_host: str = Field("127.0.0.1", description="SMTP relay for outbound letters")
    relay_port: int = Field(25, ge=1, le=65535, description="SMTP relay port")
    relay_starttls: bool = Field(False, description="upgrade the relay connection with "
                                 "STARTTLS (certificate verified)")
    from_address: str | None = Field(None, description="From: of letters (default: first "
                                     "mailbox)")
    outbox_max_attempts: int = Field(12, ge=1, description="send attempts before a letter "
                                     "is marked failed")
    outbox_backoff_seconds: float = Field(30.0, gt=0, description="first retry delay; doubles")
    letters_paused: bool = Field(False, description="hold every automatic letter (intake "
                                 "goes on)")
    duty_email: str | None = Field(None, description="duty address for safeguarding and "
                                   "withhold alerts")
    duty_escalation_email: str | None = Field(None, description="second address when an "
                                              "alert is not acknowledged")
    duty_ack_minutes: int = Field(30, ge=1, description="minutes before an unacknowledged "
                                  "alert is re-sent and escalated")
    public_url: str = Field("http://127.0.0.1:3000", description="base URL for links in "
                            "alert emails")

    # --- classification ------------------------------------------------------------
    review_threshold: float = Field(0.6, ge=0, le=1, description="labels below this "
                                    "confidence mark the case for review")
    rules_file: Path | None = Field(None, description="TOML overriding the shipped rules "
                                    "and letter contacts")
    model_dir: Path | None = Field(None, description="trained spaCy pipeline (default: "
                                   "the one shipped in nlp/model)")

    # --- Slack ---------------------------------------------------------------------
    slack_bot_token: str | None = Field(None, description="SLACK_BOT_TOKEN")
    slack_signing_secret: str | None = Field(None, description="SLACK_SIGNING_SECRET")
    slack_app_token: str | None = Field(None, description="SLACK_APP_TOKEN (Socket Mode)")
    slack_api_url: str = Field("https://slack.com/api/", description="SLACK_API_URL")
    slack_host: str = Field("127.0.0.1", description="where /slack/events listens")
    slack_port: int = Field(3000, ge=0, le=65535, description="Slack HTTP port")
    slack_intake_channel: str | None = Field(None, description="channel ID whose messages "
                                             "become cases")
    slack_triage_channel: str | None = Field(None, description="channel ID where cases are "
                                             "posted")
    slack_staff: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="user IDs and/or user group IDs allowed to act"
    )
    slack_alert_group: str | None = Field(None, description="user group mentioned in urgent "
                                          "alerts")
    slack_burst_threshold: int = Field(20, ge=1, description="queued triage posts above "
                                       "which a roll-up summary is posted")
    slack_post_interval_seconds: float = Field(1.0, ge=0, description="least time between "
                                               "two posts to one Slack channel")

    # --- retention (docs/data-protection.md) -----------------------------------------
    retention_closed_case_days: int = Field(1095, ge=1, description="days after closing "
                                            "before a case's personal data is purged")
    retention_unlinked_message_days: int = Field(90, ge=1, description="days to keep "
                                                 "messages that made no case (spam, bounces, "
                                                 "auto-replies, list mail)")
    retention_sent_outbox_days: int = Field(30, ge=1, description="days to keep the raw "
                                            "copy of a sent mail in the outbox")

    # --- operations ----------------------------------------------------------------
    health_host: str = Field("127.0.0.1", description="health and metrics listener")
    health_port: int | None = Field(None, ge=0, le=65535, description="health port (unset: "
                                    "off)")
    log_level: str = Field("INFO", description="logging level")
    timezone: str = Field("Europe/London", description="local time zone of the service")
    worker_poll_seconds: float = Field(1.0, gt=0, description="how often workers look for work")
    pipeline_processes: int = Field(1, ge=0, le=32, description="pipeline worker processes "
                                    "(0: a thread in the main process; 1 keeps the pipeline's "
                                    "CPU off the SMTP edge; more help only with spare cores)")

    @field_validator("mailboxes", "slack_staff", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        return _csv(value)

    @field_validator("mailboxes")
    @classmethod
    def _mailboxes_look_like_addresses(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("at least one mailbox address is needed")
        for address in value:
            if "@" not in address:
                raise ValueError(f"{address!r} is not an email address")
        return [a.lower() for a in value]

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("only sqlite:// and postgresql:// URLs are supported")
        return value

    @model_validator(mode="after")
    def _slack_mode_is_complete(self) -> Settings:
        self.slack_mode  # noqa: B018 - raises when the combination is incomplete
        if bool(self.smtp_tls_cert) != bool(self.smtp_tls_key):
            raise ValueError("smtp_tls_cert and smtp_tls_key must be set together")
        return self

    @property
    def letters_from(self) -> str:
        return self.from_address or self.mailboxes[0]

    @property
    def slack_mode(self) -> Literal["off", "http", "socket"]:
        """Which Slack transport the settings ask for (PRODUCT.md, Slack app)."""
        bot, secret, app = self.slack_bot_token, self.slack_signing_secret, self.slack_app_token
        if not (bot or secret or app):
            return "off"
        if bot and app:
            return "socket"
        if bot and secret:
            return "http"
        missing = []
        if not bot:
            missing.append("SLACK_BOT_TOKEN")
        if not (secret or app):
            missing.append("SLACK_SIGNING_SECRET (HTTP mode) or SLACK_APP_TOKEN (Socket Mode)")
        raise ValueError("incomplete Slack configuration: missing " + " and ".join(missing))

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, _SlackEnvSource(settings_cls), env_settings,
                _TomlSource(settings_cls))


class _SlackEnvSource(PydanticBaseSettingsSource):
    """Reads the SLACK_* variables, whose names PRODUCT.md fixes without our prefix."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return {k: os.environ[v] for k, v in _SLACK_ENV.items() if os.environ.get(v)}


class _TomlSource(PydanticBaseSettingsSource):
    """Reads the TOML file named by INTAKE_CONFIG (default intake.toml when present)."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        named = os.environ.get("INTAKE_CONFIG")
        path = Path(named or "intake.toml")
        if not path.exists():
            if named:
                raise ConfigError(f"INTAKE_CONFIG: file {path} does not exist")
            return {}
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML ({exc})") from None
        unknown = set(data) - set(Settings.model_fields)
        if unknown:
            raise ConfigError(f"{path}: unknown setting(s): {', '.join(sorted(unknown))}")
        return data


def _env_name(field: str) -> str:
    return _SLACK_ENV.get(field, "INTAKE_" + field.upper())


def load_settings(**overrides: Any) -> Settings:
    """Build and validate settings; raise ConfigError naming the first bad value."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        name = _env_name(field) if field else "configuration"
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{name}: {msg}") from None
    except SettingsError as exc:
        raise ConfigError(str(exc)) from None


_current: Settings | None = None


def get_settings() -> Settings:
    """The settings in force (loaded once, on first use)."""
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def set_settings(settings: Settings | None) -> None:
    global _current
    _current = settings


@contextmanager
def override_settings(**overrides: Any) -> Iterator[Settings]:
    """Tests: run with some settings changed, then restore the previous ones."""
    previous = _current
    settings = load_settings(**overrides)
    set_settings(settings)
    try:
        yield settings
    finally:
        set_settings(previous)


def reference_markdown() -> str:
    """The configuration reference in docs/configuration.md, made from the fields above."""
    lines = [
        "# Configuration reference",
        "",
        "Generated from `intake/settings.py` (a test keeps it in step). Set each as an",
        "environment variable, or as the lower-case key without the prefix in the TOML file",
        "named by `INTAKE_CONFIG` (default `intake.toml`). The environment wins.",
        "",
        "| variable | meaning | default |",
        "|---|---|---|",
    ]
    for name, field in Settings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        if isinstance(default, list):
            default = ",".join(default)
        shown = "unset" if default is None else f"`{default}`"
        lines.append(f"| `{_env_name(name)}` | {field.description or ''} | {shown} |")
    return "\n".join(lines) + "\n"
