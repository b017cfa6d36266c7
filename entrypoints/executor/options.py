"""`ExecutorOptions`: what one executor run needs, and where its files go by default."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from core.risk import RiskLimits
from core.service_layer.executor.settings import default_executor_limits

EXIT_OK = 0
EXIT_TOKEN_REFUSED = 3


@dataclass(frozen=True, slots=True)
class ExecutorOptions:
    """Everything one run needs (built by `executor_command` from the CLI and environment)."""

    api_url: str
    token: str
    download_dir: Path
    journal: Path
    log_dir: Path
    simulate: bool = False
    sim_state: Path | None = None
    account: str | None = None
    limits: RiskLimits = field(default_factory=default_executor_limits)
    ca_file: Path | None = None
    sim_seed: int = 7
    sim_tick_seconds: float = 1.0
    sim_step_pct: Decimal = Decimal("0.002")
    status_every: float = 5.0


def default_journal(download_dir: Path) -> Path:
    """The journal when --journal is not given: in the download dir."""
    return download_dir / "executor_journal.sqlite3"


def default_sim_state(journal: Path) -> Path:
    """The simulated broker's state file when --sim-state is not given: next to the journal."""
    return journal.with_name(f"{journal.stem}.simulated_broker.json")
