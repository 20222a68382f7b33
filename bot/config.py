"""Settings from the environment (and an optional `.env` file), read and checked in this one place.

A channel whose settings are all absent is simply off. Half-given, contradictory or malformed
settings stop start-up with one clear line (ConfigError), and secrets never appear in it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from storage.database import DEFAULT_URL

_TWILIO_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_MESSAGING_SID = re.compile(r"MG[0-9a-fA-F]{32}")
_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
_TELEGRAM_TOKEN = re.compile(r"[0-9]{3,12}:[A-Za-z0-9_-]{20,64}")
_TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class ConfigError(Exception):
    """The settings are incomplete, contradictory or malformed."""


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    """Everything trialbot reads from its environment."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = Field(default=DEFAULT_URL, validation_alias=_env("TRIALBOT_DATABASE_URL"))
    study: str | None = Field(default=None, validation_alias=_env("TRIALBOT_STUDY"))
    log_level: str = Field(default="WARNING", validation_alias=_env("TRIALBOT_LOG_LEVEL"))
    public_url: str | None = Field(default=None, validation_alias=_env("TRIALBOT_PUBLIC_URL"))
    send_lease_seconds: float = Field(default=60.0, validation_alias=_env("TRIALBOT_SEND_LEASE_SECONDS"))
    # Rows per sweep transaction in `trialbot worker` (default: the scheduler's BATCH); tests set it small.
    sweep_batch: int | None = Field(default=None, gt=0, validation_alias=_env("TRIALBOT_SWEEP_BATCH"))
    # Where `serve` spools messages while the database cannot take them (bot.spool).
    spool_dir: str | None = Field(default=None, validation_alias=_env("TRIALBOT_SPOOL_DIR"))
    twilio_account_sid: str | None = Field(default=None, validation_alias=_env("TWILIO_ACCOUNT_SID"))
    twilio_auth_token: str | None = Field(default=None, validation_alias=_env("TWILIO_AUTH_TOKEN"))
    twilio_from_number: str | None = Field(default=None, validation_alias=_env("TWILIO_FROM_NUMBER"))
    twilio_messaging_service_sid: str | None = Field(
        default=None, validation_alias=_env("TWILIO_MESSAGING_SERVICE_SID")
    )
    twilio_api_url: str | None = Field(default=None, validation_alias=_env("TWILIO_API_URL"))
    telegram_bot_token: str | None = Field(default=None, validation_alias=_env("TELEGRAM_BOT_TOKEN"))
    telegram_webhook_secret: str | None = Field(default=None, validation_alias=_env("TELEGRAM_WEBHOOK_SECRET"))
    telegram_api_url: str = Field(default="https://api.telegram.org", validation_alias=_env("TELEGRAM_API_URL"))


@dataclass(frozen=True, slots=True)
class TwilioSettings:
    """A complete, checked Twilio configuration."""

    account_sid: str
    auth_token: str
    from_number: str | None
    messaging_service_sid: str | None
    api_url: str | None
    public_url: str


@dataclass(frozen=True, slots=True)
class TelegramSettings:
    """A complete, checked Telegram configuration."""

    token: str
    webhook_secret: str | None
    api_url: str
    public_url: str | None


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Which channels are on, with their settings."""

    twilio: TwilioSettings | None
    telegram: TelegramSettings | None


def load_settings() -> Settings:
    """Read the settings now; a value of the wrong type is a ConfigError naming the variable."""
    try:
        return Settings()
    except ValidationError as exc:
        first = exc.errors()[0]
        name = ".".join(str(p) for p in first["loc"]).upper()
        raise ConfigError(f"setting {name}: {first['msg']}") from None


def _blank(value: str | None) -> str | None:
    return value.strip() if value and value.strip() else None


def _http_url(name: str, value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise ConfigError(f"{name} must be a base URL like https://trialbot.example.org (got {value!r})")
    return value.rstrip("/")


def _twilio(settings: Settings) -> TwilioSettings | None:
    sid = _blank(settings.twilio_account_sid)
    token = _blank(settings.twilio_auth_token)
    number = _blank(settings.twilio_from_number)
    service = _blank(settings.twilio_messaging_service_sid)
    if not any((sid, token, number, service)):
        return None
    if not sid or not token:
        raise ConfigError("Twilio needs both TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN (or neither, to turn SMS off)")
    if not _TWILIO_SID.fullmatch(sid):
        raise ConfigError("TWILIO_ACCOUNT_SID must look like AC followed by 32 hex digits")
    if len(token) < 16:
        raise ConfigError("TWILIO_AUTH_TOKEN looks too short to be an auth token")
    if bool(number) == bool(service):
        raise ConfigError("give exactly one of TWILIO_FROM_NUMBER or TWILIO_MESSAGING_SERVICE_SID")
    if number and not _PHONE.fullmatch(number):
        raise ConfigError(f"TWILIO_FROM_NUMBER must be an E.164 number like +15550100199 (got {number!r})")
    if service and not _MESSAGING_SID.fullmatch(service):
        raise ConfigError("TWILIO_MESSAGING_SERVICE_SID must look like MG followed by 32 hex digits")
    public = _blank(settings.public_url)
    if public is None:
        raise ConfigError("SMS needs TRIALBOT_PUBLIC_URL: Twilio signatures are checked against it")
    api = _blank(settings.twilio_api_url)
    return TwilioSettings(
        account_sid=sid,
        auth_token=token,
        from_number=number,
        messaging_service_sid=service,
        api_url=_http_url("TWILIO_API_URL", api) if api else None,
        public_url=_http_url("TRIALBOT_PUBLIC_URL", public),
    )


def _telegram(settings: Settings) -> TelegramSettings | None:
    token = _blank(settings.telegram_bot_token)
    secret = _blank(settings.telegram_webhook_secret)
    if not token and not secret:
        return None
    if not token:
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET is set but TELEGRAM_BOT_TOKEN is not")
    if not _TELEGRAM_TOKEN.fullmatch(token):
        raise ConfigError("TELEGRAM_BOT_TOKEN must look like 123456789:AA... (the token BotFather gave)")
    if secret is not None and not _TELEGRAM_SECRET.fullmatch(secret):
        raise ConfigError("TELEGRAM_WEBHOOK_SECRET must be 1-256 characters of A-Z a-z 0-9 _ -")
    public = _blank(settings.public_url)
    return TelegramSettings(
        token=token,
        webhook_secret=secret,
        api_url=_http_url("TELEGRAM_API_URL", settings.telegram_api_url.strip()),
        public_url=_http_url("TRIALBOT_PUBLIC_URL", public) if public else None,
    )


def channel_settings(settings: Settings) -> ChannelSettings:
    """Check the channel settings; raise ConfigError with one clear line if anything is wrong."""
    if settings.send_lease_seconds <= 0:
        raise ConfigError("TRIALBOT_SEND_LEASE_SECONDS must be a positive number of seconds")
    return ChannelSettings(twilio=_twilio(settings), telegram=_telegram(settings))
