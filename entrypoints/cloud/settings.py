"""Settings of the cloud service, from the command line and the environment (TRADEBRIDGE_*)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from core.risk import RiskLimits


@dataclass(frozen=True, slots=True)
class CloudSettings:
    """Everything `create_app` needs. `database_url` None means a SQLite file in the data dir;
    `api_tokens` empty means a token generated on first start and kept in the data dir."""

    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None
    api_tokens: tuple[str, ...] = ()
    investment_per_position: Decimal = Decimal(10_000)
    account_equity: Decimal = Decimal(100_000)
    limits: RiskLimits = field(default_factory=RiskLimits)
    batch_expiry_hours: Decimal = Decimal(24)
    rate_limit_per_minute: int = 600
    max_body_bytes: int = 1 << 20
    allowed_hosts: tuple[str, ...] = ()
    cors_origins: tuple[str, ...] = ()
    heartbeat_seconds: float = 15.0
    public_url: str = ""  # prefix of download URLs (empty: relative paths)

    @property
    def database(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'tradebridge.db').resolve()}"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> CloudSettings:
        """Settings from TRADEBRIDGE_* variables; `overrides` (command-line values that are not
        None) win over them."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        if env.get("TRADEBRIDGE_DATA_DIR"):
            values["data_dir"] = Path(env["TRADEBRIDGE_DATA_DIR"])
        for name, key in (
            ("database_url", "TRADEBRIDGE_DATABASE_URL"),
            ("redis_url", "TRADEBRIDGE_REDIS_URL"),
            ("public_url", "TRADEBRIDGE_PUBLIC_URL"),
        ):
            if env.get(key):
                values[name] = env[key]
        for name, key in (
            ("api_tokens", "TRADEBRIDGE_API_TOKENS"),
            ("allowed_hosts", "TRADEBRIDGE_ALLOWED_HOSTS"),
            ("cors_origins", "TRADEBRIDGE_CORS_ORIGINS"),
        ):
            if env.get(key):
                values[name] = tuple(item.strip() for item in env[key].split(",") if item.strip())
        for name, key in (
            ("investment_per_position", "TRADEBRIDGE_INVESTMENT_PER_POSITION"),
            ("account_equity", "TRADEBRIDGE_ACCOUNT_EQUITY"),
            ("batch_expiry_hours", "TRADEBRIDGE_BATCH_EXPIRY_HOURS"),
        ):
            if env.get(key):
                values[name] = _decimal(env[key], key)
        if env.get("TRADEBRIDGE_RATE_LIMIT_PER_MINUTE"):
            values["rate_limit_per_minute"] = _int(
                env["TRADEBRIDGE_RATE_LIMIT_PER_MINUTE"], "TRADEBRIDGE_RATE_LIMIT_PER_MINUTE"
            )
        values.update({key: value for key, value in overrides.items() if value is not None})
        return cls(**values)  # type: ignore[arg-type]

    def __post_init__(self) -> None:
        for name in ("investment_per_position", "account_equity", "batch_expiry_hours"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be above 0, got {getattr(self, name)}")
        if self.rate_limit_per_minute < 1 or self.max_body_bytes < 1024 or self.heartbeat_seconds <= 0:
            raise ValueError(
                "rate_limit_per_minute must be >= 1, max_body_bytes >= 1024, heartbeat_seconds > 0"
            )


def _decimal(text: str, key: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except ArithmeticError:
        raise ValueError(f"{key}={text!r} must be a number") from None
    if not value.is_finite():
        raise ValueError(f"{key}={text!r} must be a finite number")
    return value


def _int(text: str, key: str) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"{key}={text!r} must be a whole number") from None
