"""The executor's local risk limits, from a TOML file and/or `TRADEBRIDGE_*` variables.

The defaults are on unless a setting says otherwise: a limit is removed only by writing it as
`"none"` (TOML) or `TRADEBRIDGE_MAX_...=none` (environment). The environment wins over the file.

    # limits.toml
    max_order_quantity = 5000
    max_order_notional = 50000
    max_position_per_symbol = 10000
    max_open_positions = 20
    price_band_pct = 0.05        # 5 %
    max_daily_loss = 2000
    max_orders_per_second = "none"
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path

from core.risk import RiskLimits
from core.service_layer.executor.settings import default_executor_limits

_INTEGER_LIMITS = frozenset({"max_open_positions", "max_orders_per_second"})
LIMIT_NAMES = tuple(field.name for field in fields(RiskLimits))


class LimitsError(ValueError):
    """A limit in the file or the environment is unknown or not a number; the message says which."""


def env_name(limit: str) -> str:
    """The environment variable of a limit, e.g. TRADEBRIDGE_MAX_ORDER_QUANTITY."""
    return f"TRADEBRIDGE_{limit.upper()}"


def load_limits(path: Path | None = None, env: Mapping[str, str] | None = None) -> RiskLimits:
    """The executor's defaults, overridden by the TOML file (if given), then by the environment."""
    env = os.environ if env is None else env
    values: dict[str, object] = {}
    if path is not None:
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise LimitsError(
                f"limits file {path} does not exist; pass an existing --limits FILE.toml"
            ) from None
        except tomllib.TOMLDecodeError as error:
            raise LimitsError(f"limits file {path} is not valid TOML: {error}") from None
        table = table.get("limits", table)  # both a bare file and a [limits] table are accepted
        for name, raw in table.items():
            if name not in LIMIT_NAMES:
                raise LimitsError(f"{path}: unknown limit {name!r}; known: {', '.join(LIMIT_NAMES)}")
            values[name] = _value(name, raw, f"{path}: {name}")
    for name in LIMIT_NAMES:
        raw_env = env.get(env_name(name))
        if raw_env is not None and raw_env.strip():
            values[name] = _value(name, raw_env.strip(), env_name(name))
    try:
        return replace(default_executor_limits(), **values)  # type: ignore[arg-type]
    except ValueError as error:
        raise LimitsError(str(error)) from None


def describe(limits: RiskLimits) -> str:
    """One line for the log: every limit and its value."""
    return ", ".join(
        f"{name}={getattr(limits, name) if getattr(limits, name) is not None else 'none'}"
        for name in LIMIT_NAMES
    )


def _value(name: str, raw: object, where: str) -> Decimal | int | None:
    if isinstance(raw, str) and raw.strip().lower() in ("none", "off", "unlimited"):
        return None
    if isinstance(raw, bool | list | dict):
        raise LimitsError(f'{where} must be a number or "none", got {raw!r}')
    try:
        number = Decimal(str(raw))
    except InvalidOperation:
        raise LimitsError(f'{where} must be a number or "none", got {raw!r}') from None
    if not number.is_finite() or number < 0:
        raise LimitsError(f"{where} must be 0 or more, got {raw!r}")
    if name in _INTEGER_LIMITS:
        if number != number.to_integral_value():
            raise LimitsError(f"{where} must be a whole number, got {raw!r}")
        return int(number)
    return number
