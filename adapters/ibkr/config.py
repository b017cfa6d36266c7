"""TWS / IB Gateway connection settings (`TWSConfig`), read from the environment by `from_env()`.

The names are the second seed's: `TWS_HOST`, `TWS_PORT`, `TWS_CLIENT_ID`, `TWS_ACCOUNT`.
Paper TWS listens on 7497, live TWS on 7496, IB Gateway on 4002 (paper) / 4001 (live).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7497
DEFAULT_CLIENT_ID = 1
DEFAULT_TIMEOUT = 10.0


class TWSConfigError(ValueError):
    """A setting is missing or malformed; the message names the variable and a valid example."""


@dataclass(frozen=True, slots=True)
class TWSConfig:
    """Where TWS listens and who we are to it.

    `client_id` must be unique among the API clients connected to one TWS (error 326 otherwise);
    `account` may stay empty when TWS manages exactly one account; `timeout` bounds the connect
    handshake and each startup request, in seconds.
    """

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    client_id: int = DEFAULT_CLIENT_ID
    account: str = ""
    timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if not self.host.strip():
            raise TWSConfigError("TWS host is empty; set TWS_HOST, e.g. TWS_HOST=127.0.0.1")
        if not 0 < self.port < 65536:
            raise TWSConfigError(
                f"TWS port {self.port} is out of range; use 7497 (paper TWS), 7496 (live TWS), "
                "4002/4001 (IB Gateway paper/live)"
            )
        if not 0 <= self.client_id <= 2**31 - 1:
            raise TWSConfigError(f"TWS client id {self.client_id} must be a whole number, 0 to 2147483647")
        if self.timeout <= 0:
            raise TWSConfigError(f"TWS timeout must be above 0 seconds, got {self.timeout}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TWSConfig:
        """Settings from `TWS_HOST`, `TWS_PORT`, `TWS_CLIENT_ID`, `TWS_ACCOUNT` (and optionally
        `TWS_TIMEOUT`); unset variables take the defaults (127.0.0.1:7497, client id 1)."""
        env = os.environ if environ is None else environ
        return cls(
            host=env.get("TWS_HOST", "").strip() or DEFAULT_HOST,
            port=_integer(env, "TWS_PORT", DEFAULT_PORT, "7497"),
            client_id=_integer(env, "TWS_CLIENT_ID", DEFAULT_CLIENT_ID, "10"),
            account=env.get("TWS_ACCOUNT", "").strip(),
            timeout=_number(env, "TWS_TIMEOUT", DEFAULT_TIMEOUT),
        )


def _integer(env: Mapping[str, str], name: str, default: int, example: str) -> int:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        raise TWSConfigError(f"{name}={text!r} is not a whole number; set e.g. {name}={example}") from None


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name, "").strip()
    if not text:
        return default
    try:
        return float(text)
    except ValueError:
        raise TWSConfigError(f"{name}={text!r} is not a number of seconds; set e.g. {name}=10") from None
