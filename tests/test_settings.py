"""Settings: environment over TOML over defaults, and clear errors naming the setting."""

from __future__ import annotations

from pathlib import Path

import pytest

from intake.settings import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_env(settings: object) -> None:
    """The `settings` fixture clears INTAKE_*/SLACK_* and runs in a temporary folder."""


def test_defaults_match_the_product_spec() -> None:
    s = load_settings()
    assert s.database_url == "sqlite:///var/intake.db"
    assert (s.smtp_host, s.smtp_port) == ("127.0.0.1", 8025)
    assert s.mailboxes == ["enquiries@localhost"]
    assert (s.relay_host, s.relay_port) == ("127.0.0.1", 25)
    assert s.letters_from == "enquiries@localhost"
    assert s.max_message_bytes == 26214400
    assert s.slack_mode == "off"
    assert s.slack_api_url == "https://slack.com/api/"
    assert (s.slack_host, s.slack_port) == ("127.0.0.1", 3000)
    assert s.slack_staff == []


def test_environment_overrides_toml_file(tmp_path: Path,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "intake.toml").write_text(
        'smtp_port = 2525\nmailboxes = "a@example.org, b@example.org"\n'
        'relay_host = "relay.example.org"\n')
    monkeypatch.setenv("INTAKE_SMTP_PORT", "2626")
    s = load_settings()
    assert s.smtp_port == 2626
    assert s.mailboxes == ["a@example.org", "b@example.org"]
    assert s.relay_host == "relay.example.org"
    assert s.letters_from == "a@example.org"


def test_config_file_named_by_intake_config(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    other = tmp_path / "other.toml"
    other.write_text('from_address = "complaints@example.org"\n')
    monkeypatch.setenv("INTAKE_CONFIG", str(other))
    assert load_settings().letters_from == "complaints@example.org"


def test_missing_named_config_file_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTAKE_CONFIG", "nope.toml")
    with pytest.raises(ConfigError, match="INTAKE_CONFIG"):
        load_settings()


@pytest.mark.parametrize(("env", "value", "named"), [
    ("INTAKE_SMTP_PORT", "eighty", "INTAKE_SMTP_PORT"),
    ("INTAKE_SMTP_PORT", "70000", "INTAKE_SMTP_PORT"),
    ("INTAKE_MAILBOXES", "not-an-address", "INTAKE_MAILBOXES"),
    ("INTAKE_DATABASE_URL", "mysql://x", "INTAKE_DATABASE_URL"),
    ("INTAKE_MAX_MESSAGE_BYTES", "0", "INTAKE_MAX_MESSAGE_BYTES"),
])
def test_bad_values_are_refused_naming_the_variable(monkeypatch: pytest.MonkeyPatch, env: str,
                                                    value: str, named: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ConfigError) as err:
        load_settings()
    assert str(err.value).startswith(named)


def test_unknown_key_in_toml_is_refused(tmp_path: Path) -> None:
    (tmp_path / "intake.toml").write_text("smtp_prot = 25\n")
    with pytest.raises(ConfigError, match="smtp_prot"):
        load_settings()


@pytest.mark.parametrize(("env", "mode"), [
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_SIGNING_SECRET": "s"}, "http"),
    ({"SLACK_BOT_TOKEN": "xoxb-1", "SLACK_APP_TOKEN": "xapp-1"}, "socket"),
    ({}, "off"),
])
def test_slack_mode_follows_the_tokens(monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
                                       mode: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert load_settings().slack_mode == mode


@pytest.mark.parametrize(("env", "missing"), [
    ({"SLACK_BOT_TOKEN": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
    ({"SLACK_SIGNING_SECRET": "s"}, "SLACK_BOT_TOKEN"),
    ({"SLACK_APP_TOKEN": "xapp-1"}, "SLACK_BOT_TOKEN"),
])
def test_incomplete_slack_configuration_names_what_is_missing(
        monkeypatch: pytest.MonkeyPatch, env: dict[str, str], missing: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=missing):
        load_settings()


def test_configuration_reference_is_up_to_date() -> None:
    from intake.settings import reference_markdown

    doc = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
    assert doc.read_text() == reference_markdown(), (
        "regenerate: python -c 'from intake.settings import reference_markdown; "
        "print(reference_markdown(), end=\"\")' > docs/configuration.md")
