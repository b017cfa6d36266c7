"""What the two latency benchmarks share: a 20-order scan, a free port, and a percentile.

Not a benchmark itself (`make bench` runs only files not starting with `_`). Imported as a sibling
module: `python bench/NAME.py` puts bench/ first on sys.path.
"""

from __future__ import annotations

import socket

SYMBOLS = (
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "V", "UNH",
    "XOM", "JNJ", "WMT", "PG", "MA", "HD", "CVX", "MRK", "ABBV", "KO",
)  # fmt: skip


def scan_rows() -> list[dict[str, object]]:
    """20 Buy rows, each sized to a few shares by the default $10,000 investment."""
    return [
        {
            "symbol": symbol,
            "current_price": 100 + index * 7,
            "side": "Buy",
            "stop_loss": 100 + index * 7 - 5,
            "take_profit": 100 + index * 7 + 10,
            "target_date": "2027-03-31",
            "win_rate": 60,
            "adx": 25,
            "strategy": "bench",
        }
        for index, symbol in enumerate(SYMBOLS)
    ]


def free_port() -> int:
    """A port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def percentile(values: list[float], fraction: float) -> float:
    """The nearest-rank percentile (`fraction` 0.99 for p99) of at least one value."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]
