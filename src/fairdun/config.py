"""Configuration from FAIRDUN_* environment variables and an optional .env file.

Unknown FAIRDUN_* names are refused (a typo must not silently fall back to a
default), and production refuses the built-in development secrets.
"""

from __future__ import annotations

import os
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "FAIRDUN_"

# Development defaults. They are public (they are in this file), so production
# refuses to start with any of them.
DEV_SECRET_KEY = "dev-secret-key-do-not-use-in-production-0000000000"  # noqa: S105 - public on purpose; refused in production
DEV_DATA_KEYS = "dev1:ZGV2LWRhdGEta2V5LWRvLW5vdC11c2UtMzItYnl0ZXM="
DEV_BLIND_INDEX_KEY = "ZGV2LWJsaW5kLWluZGV4LWtleS1ub3QtZm9yLXByb2Q="

# Variables that belong to the test harness or tooling, not to the app.
_ALLOWED_EXTRA = {"FAIRDUN_TEST_DATABASE_URL", "FAIRDUN_ENV_FILE", "FAIRDUN_CHROMIUM"}


class Environment(StrEnum):
    DEVELOPMENT = "development"
    TEST = "test"
    PRODUCTION = "production"


class ConfigError(Exception):
    """The configuration is unusable; the message names the setting to fix."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        case_sensitive=False,
    )

    env: Environment = Environment.DEVELOPMENT
    database_url: str = "sqlite:///var/fairdun.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    secret_key: str = DEV_SECRET_KEY
    data_keys: str = DEV_DATA_KEYS
    active_key_id: str = "dev1"
    blind_index_key: str = DEV_BLIND_INDEX_KEY
    default_locale: str = "zh_Hans"
    session_idle_minutes: int = Field(default=30, ge=1)
    session_max_hours: int = Field(default=12, ge=1)
    login_max_failures: int = Field(default=5, ge=1)
    login_window_minutes: int = Field(default=15, ge=1)
    cookie_secure: bool = False
    log_level: str = "info"
    # Legal caps on the annualised cost (ids from fairdun.loans.apr.default_caps); loans
    # above any are flagged, and charges above the binding one are not collectable.
    # cn.4x-lpr (four times the one-year LPR) binds private lending (民间借贷), not licensed
    # lenders, so it is available but not on by default.
    rate_caps: str = "cn.24pct,cn.36pct"
    collectable_cap: str = "cn.24pct"
    one_year_lpr: Decimal = Field(default=Decimal("0.030"), ge=0, le=Decimal("0.5"))
    # The reporting platform (complaints/config.py reads these).
    complaint_evidence_dir: str = "var/evidence"
    complaint_hold: str = "until_triaged"
    complaint_reports_per_hour: int = Field(default=10, ge=1, le=10_000)
    # Risk control (risk/service.py): where model bundles live (the file ACTIVE there names
    # the one in use), the limit and rate rule set, and the loss given default that turns a
    # probability and an exposure into the watchlist's expected loss.
    risk_model_dir: str = "var/risk-models"
    risk_rules: str = "credit-cn-default"
    risk_loss_given_default: Decimal = Field(default=Decimal("1"), gt=0, le=1)
    # Channels of `fairdun worker` (outbox/adapters.py): the file the default adapter
    # writes, the SMTP server for e-mail, the SMS provider's webhook and its HMAC secret.
    outbox_file: str = "var/outbox/sent.jsonl"
    smtp_host: str = ""
    smtp_port: int = Field(default=587, ge=1, le=65535)
    smtp_from: str = ""
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_starttls: bool = True
    sms_webhook_url: str = ""
    sms_webhook_secret: str = ""

    @field_validator("complaint_hold")
    @classmethod
    def _known_hold(cls, value: str) -> str:
        if value not in ("off", "until_triaged", "until_closed"):
            raise ValueError("must be off, until_triaged or until_closed")
        return value

    @field_validator("default_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in ("zh_Hans", "en"):
            raise ValueError("must be zh_Hans or en")
        return value

    @property
    def is_production(self) -> bool:
        return self.env is Environment.PRODUCTION

    def production_problems(self) -> list[str]:
        """Settings that still hold a public development default."""
        problems: list[str] = []
        if not self.is_production:
            return problems
        if self.secret_key == DEV_SECRET_KEY or len(self.secret_key) < 32:
            problems.append(
                "FAIRDUN_SECRET_KEY is the development default or shorter than 32 characters; "
                "set FAIRDUN_SECRET_KEY to a random value (fairdun keys generate)"
            )
        if DEV_DATA_KEYS.split(":", 1)[1] in self.data_keys:
            problems.append(
                "FAIRDUN_DATA_KEYS contains the development data key; set FAIRDUN_DATA_KEYS to "
                "your own keys (fairdun keys generate) and FAIRDUN_ACTIVE_KEY_ID to the active one"
            )
        if self.blind_index_key == DEV_BLIND_INDEX_KEY:
            problems.append(
                "FAIRDUN_BLIND_INDEX_KEY is the development default; set FAIRDUN_BLIND_INDEX_KEY "
                "(fairdun keys generate)"
            )
        if not self.cookie_secure:
            problems.append("FAIRDUN_COOKIE_SECURE must be true in production (HTTPS only cookies)")
        return problems


def _unknown_names(environ: dict[str, str]) -> list[str]:
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    return sorted(
        key
        for key in environ
        if key.upper().startswith(ENV_PREFIX)
        and key.upper() not in known
        and key.upper() not in _ALLOWED_EXTRA
    )


def load_settings(environ: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """Build settings, refusing unknown names and (in production) development secrets."""
    env = dict(os.environ if environ is None else environ)
    unknown = _unknown_names(env)
    if unknown:
        raise ConfigError(
            "unknown configuration name(s): "
            + ", ".join(unknown)
            + " (see the configuration table in README.md)"
        )
    env_file = env.get("FAIRDUN_ENV_FILE", ".env")
    try:
        if environ is None:
            settings = Settings(_env_file=env_file, **overrides)
        else:
            settings = _settings_from_mapping(env, env_file, overrides)
    except ValidationError as exc:
        parts = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err["loc"]).upper()
            if not loc:
                name = "configuration"
            elif loc.startswith(ENV_PREFIX):
                name = loc  # an unknown name in the .env file, reported as written
            else:
                name = ENV_PREFIX + loc
            parts.append(f"{name}: {err['msg']}")
        raise ConfigError("invalid configuration: " + "; ".join(parts)) from None
    problems = settings.production_problems()
    if problems:
        raise ConfigError("refusing to start in production: " + "; ".join(problems))
    return settings


def _settings_from_mapping(
    env: dict[str, str], env_file: str, overrides: dict[str, Any]
) -> Settings:
    """Settings from an explicit mapping (used by tests), ignoring the process environment."""
    values: dict[str, Any] = {}
    for key, value in env.items():
        upper = key.upper()
        if upper.startswith(ENV_PREFIX) and upper not in _ALLOWED_EXTRA:
            values[upper[len(ENV_PREFIX) :].lower()] = value
    values.update(overrides)
    file = Path(env_file)
    return _MappingSettings(_env_file=str(file) if file.exists() else None, **values)


class _MappingSettings(Settings):
    """Reads only the given values and the .env file, never the process environment."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, dotenv_settings)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
