"""Configuration: unknown names and invalid values are refused by name; production refuses the
development secrets. Every test passes an explicit mapping and a non-existent .env file, and runs
in an empty working directory, so neither the process environment nor a .env file leaks in."""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest

from fairdun.config import (
    DEV_BLIND_INDEX_KEY,
    DEV_DATA_KEYS,
    DEV_SECRET_KEY,
    ConfigError,
    Environment,
    Settings,
    load_settings,
)

PROD_DATA_KEY = base64.b64encode(b"p" * 32).decode()
PROD_INDEX_KEY = base64.b64encode(b"q" * 32).decode()
PROD_SECRET = "prod-secret-" + "s" * 40
PRODUCTION_NAMES = (
    "FAIRDUN_SECRET_KEY",
    "FAIRDUN_DATA_KEYS",
    "FAIRDUN_BLIND_INDEX_KEY",
    "FAIRDUN_COOKIE_SECURE",
)


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def no_env_file(tmp_path: Path) -> dict[str, str]:
    """The base mapping: points FAIRDUN_ENV_FILE at a file that does not exist."""
    return {"FAIRDUN_ENV_FILE": str(tmp_path / "absent.env")}


def production(base: dict[str, str], **changes: str) -> dict[str, str]:
    values = {
        **base,
        "FAIRDUN_ENV": "production",
        "FAIRDUN_SECRET_KEY": PROD_SECRET,
        "FAIRDUN_DATA_KEYS": f"p1:{PROD_DATA_KEY}",
        "FAIRDUN_ACTIVE_KEY_ID": "p1",
        "FAIRDUN_BLIND_INDEX_KEY": PROD_INDEX_KEY,
        "FAIRDUN_COOKIE_SECURE": "true",
    }
    values.update({"FAIRDUN_" + k.upper(): v for k, v in changes.items()})
    return values


def test_empty_mapping_gives_the_development_defaults(no_env_file: dict[str, str]) -> None:
    settings = load_settings(environ=no_env_file)
    assert settings.env is Environment.DEVELOPMENT
    assert settings.port == 8000
    assert settings.default_locale == "zh_Hans"
    assert settings.secret_key == DEV_SECRET_KEY
    assert not settings.is_production


def test_mapping_values_are_read(no_env_file: dict[str, str]) -> None:
    settings = load_settings(
        environ={
            **no_env_file,
            "FAIRDUN_PORT": "9001",
            "FAIRDUN_DEFAULT_LOCALE": "en",
            "FAIRDUN_COOKIE_SECURE": "true",
            "FAIRDUN_DATABASE_URL": "sqlite:///x.db",
        }
    )
    assert settings.port == 9001
    assert settings.default_locale == "en"
    assert settings.cookie_secure is True
    assert settings.database_url == "sqlite:///x.db"


def test_names_are_case_insensitive(no_env_file: dict[str, str]) -> None:
    assert load_settings(environ={**no_env_file, "fairdun_port": "9002"}).port == 9002


def test_variables_without_the_prefix_are_ignored(no_env_file: dict[str, str]) -> None:
    settings = load_settings(environ={**no_env_file, "PORT": "1", "HOME": "/root"})
    assert settings.port == 8000


def test_overrides_take_precedence_over_the_mapping(no_env_file: dict[str, str]) -> None:
    assert load_settings(environ={**no_env_file, "FAIRDUN_PORT": "9003"}, port=9004).port == 9004


@pytest.mark.parametrize("name", ["FAIRDUN_PROT", "FAIRDUN_SECRETKEY", "fairdun_databse_url"])
def test_unknown_name_is_refused_by_name(no_env_file: dict[str, str], name: str) -> None:
    with pytest.raises(ConfigError, match="unknown configuration name") as excinfo:
        load_settings(environ={**no_env_file, name: "1"})
    assert name in str(excinfo.value)


def test_all_unknown_names_are_listed_sorted(no_env_file: dict[str, str]) -> None:
    with pytest.raises(ConfigError, match="FAIRDUN_A_TYPO, FAIRDUN_B_TYPO"):
        load_settings(environ={**no_env_file, "FAIRDUN_B_TYPO": "1", "FAIRDUN_A_TYPO": "1"})


def test_test_database_url_is_allowed(no_env_file: dict[str, str]) -> None:
    settings = load_settings(
        environ={**no_env_file, "FAIRDUN_TEST_DATABASE_URL": "postgresql+psycopg://x/y"}
    )
    assert settings.database_url != "postgresql+psycopg://x/y"


def test_chromium_path_for_the_browser_tests_is_allowed(no_env_file: dict[str, str]) -> None:
    settings = load_settings(environ={**no_env_file, "FAIRDUN_CHROMIUM": "/usr/bin/chromium"})
    assert settings.port == 8000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FAIRDUN_PORT", "notaport"),
        ("FAIRDUN_PORT", "0"),
        ("FAIRDUN_PORT", "65536"),
        ("FAIRDUN_DEFAULT_LOCALE", "fr"),
        ("FAIRDUN_DEFAULT_LOCALE", "zh-Hans"),
        ("FAIRDUN_ENV", "staging"),
        ("FAIRDUN_COOKIE_SECURE", "maybe"),
        ("FAIRDUN_SESSION_IDLE_MINUTES", "0"),
        ("FAIRDUN_LOGIN_MAX_FAILURES", "-1"),
    ],
)
def test_invalid_value_is_refused_naming_the_variable(
    no_env_file: dict[str, str], name: str, value: str
) -> None:
    with pytest.raises(ConfigError, match="invalid configuration") as excinfo:
        load_settings(environ={**no_env_file, name: value})
    assert f"{name}:" in str(excinfo.value)


def test_every_invalid_value_is_named_at_once(no_env_file: dict[str, str]) -> None:
    with pytest.raises(ConfigError) as excinfo:
        load_settings(environ={**no_env_file, "FAIRDUN_PORT": "x", "FAIRDUN_DEFAULT_LOCALE": "fr"})
    assert "FAIRDUN_PORT" in str(excinfo.value)
    assert "FAIRDUN_DEFAULT_LOCALE" in str(excinfo.value)


def test_env_file_named_by_fairdun_env_file_is_read(tmp_path: Path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text("FAIRDUN_PORT=9005\nFAIRDUN_DEFAULT_LOCALE=en\n", encoding="utf-8")
    settings = load_settings(environ={"FAIRDUN_ENV_FILE": str(env_file)})
    assert settings.port == 9005
    assert settings.default_locale == "en"


def test_mapping_takes_precedence_over_the_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text("FAIRDUN_PORT=9005\n", encoding="utf-8")
    settings = load_settings(environ={"FAIRDUN_ENV_FILE": str(env_file), "FAIRDUN_PORT": "9006"})
    assert settings.port == 9006


def test_dot_env_in_the_working_directory_is_the_default_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("FAIRDUN_PORT=9007\n", encoding="utf-8")
    assert load_settings(environ={}).port == 9007


def test_invalid_value_in_the_env_file_is_refused_by_name(tmp_path: Path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text("FAIRDUN_PORT=notaport\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="FAIRDUN_PORT"):
        load_settings(environ={"FAIRDUN_ENV_FILE": str(env_file)})


def test_unknown_name_in_the_env_file_is_refused_by_its_own_name(tmp_path: Path) -> None:
    env_file = tmp_path / "custom.env"
    env_file.write_text("FAIRDUN_PROT=8001\n", encoding="utf-8")
    with pytest.raises(ConfigError) as excinfo:
        load_settings(environ={"FAIRDUN_ENV_FILE": str(env_file)})
    message = str(excinfo.value)
    assert "FAIRDUN_PROT" in message
    assert "FAIRDUN_FAIRDUN_" not in message


def test_explicit_mapping_ignores_the_process_environment(
    no_env_file: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAIRDUN_PORT", "9008")
    monkeypatch.setenv("FAIRDUN_ENV", "test")
    settings = load_settings(environ=no_env_file)
    assert settings.port == 8000
    assert settings.env is Environment.DEVELOPMENT


def test_process_environment_is_read_when_no_mapping_is_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in list(os.environ):
        if name.upper().startswith("FAIRDUN_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("FAIRDUN_PORT", "9009")
    monkeypatch.setenv("FAIRDUN_ENV_FILE", str(tmp_path / "absent.env"))
    assert load_settings().port == 9009


def test_process_environment_refuses_unknown_names(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("FAIRDUN_ENV_FILE", str(tmp_path / "absent.env"))
    monkeypatch.setenv("FAIRDUN_PROT", "1")
    with pytest.raises(ConfigError, match="FAIRDUN_PROT"):
        load_settings()


# --- production ------------------------------------------------------------------------


def test_production_with_own_secrets_loads(no_env_file: dict[str, str]) -> None:
    settings = load_settings(environ=production(no_env_file))
    assert settings.is_production
    assert settings.production_problems() == []
    assert settings.cookie_secure is True


def test_production_with_all_development_defaults_names_every_setting_to_set(
    no_env_file: dict[str, str],
) -> None:
    with pytest.raises(ConfigError, match="refusing to start in production") as excinfo:
        load_settings(environ={**no_env_file, "FAIRDUN_ENV": "production"})
    message = str(excinfo.value)
    for name in PRODUCTION_NAMES:
        assert name in message


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"secret_key": DEV_SECRET_KEY}, "FAIRDUN_SECRET_KEY"),
        ({"secret_key": "s" * 31}, "FAIRDUN_SECRET_KEY"),
        ({"data_keys": DEV_DATA_KEYS, "active_key_id": "dev1"}, "FAIRDUN_DATA_KEYS"),
        ({"data_keys": f"p1:{PROD_DATA_KEY},{DEV_DATA_KEYS}"}, "FAIRDUN_DATA_KEYS"),
        ({"blind_index_key": DEV_BLIND_INDEX_KEY}, "FAIRDUN_BLIND_INDEX_KEY"),
        ({"cookie_secure": "false"}, "FAIRDUN_COOKIE_SECURE"),
    ],
    ids=[
        "default-secret",
        "short-secret",
        "dev-data-key",
        "dev-data-key-among-others",
        "dev-index-key",
        "insecure-cookie",
    ],
)
def test_production_refuses_each_development_default_by_name(
    no_env_file: dict[str, str], changes: dict[str, str], name: str
) -> None:
    with pytest.raises(ConfigError, match="refusing to start in production") as excinfo:
        load_settings(environ=production(no_env_file, **changes))
    message = str(excinfo.value)
    assert name in message
    assert not [other for other in PRODUCTION_NAMES if other != name and other in message]


def test_production_accepts_a_secret_of_exactly_32_characters(
    no_env_file: dict[str, str],
) -> None:
    assert load_settings(environ=production(no_env_file, secret_key="s" * 32)).is_production


@pytest.mark.parametrize("env", ["development", "test"])
def test_development_defaults_are_fine_outside_production(
    no_env_file: dict[str, str], env: str
) -> None:
    settings = load_settings(environ={**no_env_file, "FAIRDUN_ENV": env})
    assert settings.production_problems() == []


def test_settings_refuse_unknown_fields_given_in_code() -> None:
    with pytest.raises(ValueError, match="prot"):
        Settings(_env_file=None, prot=1)  # type: ignore[call-arg]
