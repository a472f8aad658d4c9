"""All configuration, in one typed object, from the environment and an optional `.env`.

Every other module receives what it needs from `Config`; nothing else reads
the environment. A bad value stops the bot at start with the variable's name.
"""

from __future__ import annotations

import ipaddress
import os
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from inference.decode import DEFAULT_MAX_PIXELS
from inference.model_folder import DEFAULT_MODEL_DIR, MODEL_FILE
from storage.database import DAY
from storage.settings import DEFAULT_TAG_COUNT, MAX_TAG_COUNT, TAG_COUNT_RANGE
from trends.refresher import RefreshSettings

# A shorter web token can be guessed; the hint in the message makes a good one.
MIN_TOKEN_LENGTH = 16
# The largest file the Bot API lets a bot download.
BOT_API_FILE_LIMIT = 20 * 1024 * 1024


class ConfigError(Exception):
    """A configuration value is missing or wrong; the message names the variable."""


def _secret(name: str) -> field:
    return field(default="", repr=False, metadata={"env": name, "secret": True})


def _env(name: str, default: object) -> field:
    return field(default=default, metadata={"env": name})


@dataclass(frozen=True)
class Config:
    """The bot's settings. `repr` never shows secrets."""

    telegram_token: str = _secret("TELEGRAM_BOT_TOKEN")
    telegram_api_base_url: str = _env("TELEGRAM_API_BASE_URL", "https://api.telegram.org/bot")
    telegram_file_base_url: str = _env("TELEGRAM_FILE_BASE_URL", "https://api.telegram.org/file/bot")
    telegram_max_rate: float = _env("TELEGRAM_MAX_MESSAGES_PER_SECOND", 30.0)
    typing_delay: float = _env("TYPING_DELAY_SECONDS", 0.5)
    album_wait: float = _env("TELEGRAM_ALBUM_WAIT_SECONDS", 1.0)
    telegram_concurrency: int = _env("TELEGRAM_CONCURRENT_UPDATES", 32)
    telegram_startup_patience: float = _env("TELEGRAM_STARTUP_PATIENCE_SECONDS", 120.0)
    telegram_poll_timeout: int = _env("TELEGRAM_POLL_TIMEOUT_SECONDS", 10)
    send_patience: float = _env("SEND_RETRY_SECONDS", 30.0)
    replay_minutes: float = _env("TELEGRAM_REPLAY_MINUTES", 60.0)
    adapter_retry: float = _env("ADAPTER_RETRY_SECONDS", 60.0)
    taught_sync: float = _env("TAUGHT_SYNC_SECONDS", 5.0)
    discord_token: str = _secret("DISCORD_BOT_TOKEN")
    discord_sharded: bool = _env("DISCORD_SHARDED", False)
    discord_shard_count: int = _env("DISCORD_SHARD_COUNT", 0)
    discord_shard_ids: frozenset[int] = _env("DISCORD_SHARD_IDS", frozenset())
    discord_api_base_url: str = _env("DISCORD_API_BASE_URL", "https://discord.com/api/v10")
    discord_gateway_url: str = _env("DISCORD_GATEWAY_URL", "")  # empty: the one Discord names (a proxy's, else)
    admin_ids: frozenset[int] = _env("ADMIN_IDS", frozenset())
    database_path: Path = _env("DATABASE_PATH", Path("data/bot.sqlite3"))
    database_url: str = _secret("DATABASE_URL")
    model_dir: Path = _env("MODEL_DIR", DEFAULT_MODEL_DIR)
    confidence: float = _env("CONFIDENCE_THRESHOLD", 0.5)
    max_image_pixels: int = _env("MAX_IMAGE_PIXELS", DEFAULT_MAX_PIXELS)
    decode_memory_mb: int = _env("DECODE_MEMORY_MB", 200)
    max_file_bytes: int = _env("MAX_FILE_BYTES", BOT_API_FILE_LIMIT)
    flood_photos: int = _env("FLOOD_PHOTOS", 5)
    flood_window: float = _env("FLOOD_WINDOW_SECONDS", 10.0)
    default_tag_count: int = _env("DEFAULT_TAG_COUNT", DEFAULT_TAG_COUNT)
    instagram_session_file: Path | None = _env("INSTAGRAM_SESSION_FILE", None)
    instagram_username: str = _env("INSTAGRAM_USERNAME", "")
    count_ttl_days: float = _env("TREND_COUNT_TTL_DAYS", 7.0)
    search_ttl_days: float = _env("TREND_SEARCH_TTL_DAYS", 14.0)
    failure_ttl_days: float = _env("TREND_FAILURE_TTL_DAYS", 1.0)
    instagram_spacing: float = _env("INSTAGRAM_SPACING_SECONDS", 20.0)
    retention_days: float = _env("REQUEST_RETENTION_DAYS", 90.0)
    log_backlog: int = _env("LOG_BACKLOG_ROWS", 10_000)
    webhook_url: str = _env("TELEGRAM_WEBHOOK_URL", "")
    webhook_secret: str = _secret("TELEGRAM_WEBHOOK_SECRET")
    webhook_port: int = _env("TELEGRAM_WEBHOOK_PORT", 8443)
    log_level: str = _env("LOG_LEVEL", "INFO")
    web_enabled: bool = _env("WEB_ENABLED", False)
    web_host: str = _env("WEB_HOST", "127.0.0.1")
    web_port: int = _env("WEB_PORT", 8080)
    web_api_token: str = _secret("WEB_API_TOKEN")
    web_admin_token: str = _secret("WEB_ADMIN_TOKEN")
    web_photos_per_minute: int = _env("WEB_PHOTOS_PER_MINUTE", 20)
    web_trusted_proxies: tuple[str, ...] = _env("WEB_TRUSTED_PROXIES", ())
    web_allowed_hosts: tuple[str, ...] = _env("WEB_ALLOWED_HOSTS", ())
    web_idle_timeout: float = _env("WEB_IDLE_TIMEOUT_SECONDS", 15.0)
    web_body_timeout: float = _env("WEB_BODY_TIMEOUT_SECONDS", 120.0)
    web_max_connections: int = _env("WEB_MAX_CONNECTIONS", 512)

    @property
    def refresh(self) -> RefreshSettings:
        return RefreshSettings(
            count_ttl=self.count_ttl_days * DAY,
            search_ttl=self.search_ttl_days * DAY,
            failure_ttl=self.failure_ttl_days * DAY,
            spacing=self.instagram_spacing,
        )

    @property
    def web_exposed(self) -> bool:
        """Whether the web server listens beyond this machine (and so needs WEB_API_TOKEN)."""
        return self.web_host not in ("127.0.0.1", "localhost", "::1")

    @property
    def database(self) -> Path | str:
        """Where the data lives: DATABASE_URL's PostgreSQL when set, else the SQLite file at DATABASE_PATH."""
        return self.database_url or self.database_path

    def secrets(self) -> list[str]:
        """Values that must never reach a log line (DATABASE_URL's password on its own too)."""
        values = [getattr(self, f.name) for f in fields(self) if f.metadata.get("secret") and getattr(self, f.name)]
        password = urlsplit(self.database_url).password if self.database_url else None
        return values + ([password] if password else [])


def _parse(raw: str, kind: object) -> object:
    text = raw.strip()
    if kind == tuple[str, ...]:
        return tuple(text.replace(",", " ").split())
    if kind == frozenset[int]:
        return frozenset(int(part) for part in text.replace(",", " ").split())
    if kind is Path or kind == Path | None:
        return Path(text) if text else None
    if kind is bool:
        if text.lower() in ("1", "true", "yes", "on"):
            return True
        if text.lower() in ("0", "false", "no", "off"):
            return False
        raise ValueError(text)
    if kind is int:
        return int(text)
    if kind is float:
        return float(text)
    return text


def load_config(environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")) -> Config:
    """Read `Config` from `.env` (if present) overlaid by the real environment."""
    values: dict[str, str] = {}
    if env_file is not None and env_file.is_file():
        if not os.access(env_file, os.R_OK):
            raise ConfigError(
                f"{env_file.resolve()} exists but this user cannot read it: make it readable by the bot's group"
                " (deploy/install.sh installs it root-owned, mode 640, group of the service user)"
            )
        values.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    values.update(os.environ if environ is None else environ)
    kwargs: dict[str, object] = {}
    types = typing.get_type_hints(Config)
    for f in fields(Config):
        name = f.metadata["env"]
        if name not in values or values[name] == "":
            continue
        try:
            kwargs[f.name] = _parse(values[name], types[f.name])
        except ValueError:
            shown = "<hidden>" if f.metadata.get("secret") else repr(values[name])
            raise ConfigError(f"{name}={shown} is not a valid {getattr(types[f.name], '__name__', 'value')}") from None
    config = Config(**kwargs)
    _check(config)
    return config


def load_config_or_exit() -> Config:
    """For command-line entry points: the configuration, or a message naming the variable and exit status 2."""
    try:
        return load_config()
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr)
        raise SystemExit(2) from None


def _is_network(text: str) -> bool:
    try:
        ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return True


def _bad_proxies(config: Config) -> str:
    bad = [proxy for proxy in config.web_trusted_proxies if not _is_network(proxy)]
    return f"WEB_TRUSTED_PROXIES must be IP addresses or networks (e.g. 127.0.0.1 10.0.0.0/8), not {' '.join(bad)}"


def _check(config: Config) -> None:
    checks = [
        (0 < config.confidence <= 1, "CONFIDENCE_THRESHOLD must be in (0, 1]"),
        (config.max_image_pixels >= 1_000_000, "MAX_IMAGE_PIXELS must be at least 1000000"),
        (0 < config.max_file_bytes <= BOT_API_FILE_LIMIT, f"MAX_FILE_BYTES must be 1..{BOT_API_FILE_LIMIT} (Bot API)"),
        (config.flood_photos >= 1 and config.flood_window > 0, "FLOOD_PHOTOS and FLOOD_WINDOW_SECONDS must be > 0"),
        (config.default_tag_count in TAG_COUNT_RANGE, f"DEFAULT_TAG_COUNT must be 1..{MAX_TAG_COUNT}"),
        (
            config.log_level.upper() in ("DEBUG", "INFO", "WARNING", "ERROR"),
            "LOG_LEVEL must be DEBUG/INFO/WARNING/ERROR",
        ),
        ((config.model_dir / MODEL_FILE).is_file(), f"MODEL_DIR={config.model_dir} has no {MODEL_FILE}"),
        (not config.webhook_url or config.webhook_url.startswith("https://"), "TELEGRAM_WEBHOOK_URL must be https://"),
        (config.retention_days > 0, "REQUEST_RETENTION_DAYS must be > 0"),
        (config.telegram_max_rate > 0, "TELEGRAM_MAX_MESSAGES_PER_SECOND must be > 0"),
        (config.typing_delay >= 0, "TYPING_DELAY_SECONDS must be >= 0"),
        (0 < config.album_wait <= 10, "TELEGRAM_ALBUM_WAIT_SECONDS must be more than 0 and at most 10"),
        (1 <= config.telegram_concurrency <= 256, "TELEGRAM_CONCURRENT_UPDATES must be 1..256"),
        (config.telegram_startup_patience >= 0, "TELEGRAM_STARTUP_PATIENCE_SECONDS must be >= 0"),
        (1 <= config.telegram_poll_timeout <= 50, "TELEGRAM_POLL_TIMEOUT_SECONDS must be 1..50"),
        (config.send_patience >= 0, "SEND_RETRY_SECONDS must be >= 0"),
        (config.log_backlog >= 0, "LOG_BACKLOG_ROWS must be >= 0"),
        (config.decode_memory_mb >= 0, "DECODE_MEMORY_MB must be >= 0"),
        (config.replay_minutes >= 0, "TELEGRAM_REPLAY_MINUTES must be >= 0"),
        (config.adapter_retry > 0, "ADAPTER_RETRY_SECONDS must be > 0"),
        (config.taught_sync > 0, "TAUGHT_SYNC_SECONDS must be > 0"),
        (1 <= config.web_port <= 65535, "WEB_PORT must be 1..65535"),
        (
            not config.database_url or config.database_url.startswith(("postgresql://", "postgres://")),
            "DATABASE_URL must be a postgresql:// URL (leave it empty for SQLite at DATABASE_PATH)",
        ),
        (config.discord_shard_count >= 0, "DISCORD_SHARD_COUNT must be >= 0"),
        (
            not config.discord_shard_ids
            or (config.discord_shard_count > 0 and max(config.discord_shard_ids) < config.discord_shard_count),
            "DISCORD_SHARD_IDS must be below DISCORD_SHARD_COUNT (ids start at 0), and needs it set",
        ),
        (config.web_photos_per_minute >= 1, "WEB_PHOTOS_PER_MINUTE must be >= 1"),
        (
            not config.web_exposed or bool(config.web_api_token),
            f"WEB_HOST={config.web_host} lets other machines use the API: set WEB_API_TOKEN too",
        ),
        (
            all(len(token) >= MIN_TOKEN_LENGTH for token in (config.web_api_token, config.web_admin_token) if token),
            f"WEB_API_TOKEN and WEB_ADMIN_TOKEN must be at least {MIN_TOKEN_LENGTH} characters"
            " (e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(24))')",
        ),
        (all(_is_network(proxy) for proxy in config.web_trusted_proxies), _bad_proxies(config)),
        (config.web_idle_timeout > 0, "WEB_IDLE_TIMEOUT_SECONDS must be > 0"),
        (config.web_body_timeout > 0, "WEB_BODY_TIMEOUT_SECONDS must be > 0"),
        (config.web_max_connections >= 8, "WEB_MAX_CONNECTIONS must be at least 8"),
    ]
    for ok, message in checks:
        if not ok:
            raise ConfigError(message)
