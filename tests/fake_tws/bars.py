"""Historical bars: a deterministic price path that ends at the stock's current price.

The path depends only on the contract id, so every run and every process produces the same bars
for the same symbol, price and end time. Daily bars are dated `YYYYMMDD`; intraday bars follow the
request's formatDate (1: `YYYYMMDD HH:MM:SS US/Eastern`, 2: epoch seconds), as TWS sends them.
"""

from __future__ import annotations

import random
import re
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from tests.fake_tws.model import Bar, Instrument

EASTERN = ZoneInfo("US/Eastern")
SESSION_OPEN = time(9, 30)
SESSION_CLOSE = time(16, 0)
MAX_BARS = 10_000
_UNIT_SECONDS = {"sec": 1, "min": 60, "hour": 3600}
_TRADING_DAYS = {"S": 0, "D": 1, "W": 5, "M": 21, "Y": 252}
_CENTS = Decimal("0.01")


class BarRequestError(ValueError):
    """A bar size or duration the fake cannot serve; the message lists what it can."""


def parse_end(text: str, now: datetime) -> datetime:
    """reqHistoricalData's endDateTime: empty is now; `YYYYMMDD[ -]HH:MM:SS[ zone]` otherwise."""
    if not text:
        return now
    stamp = text[:17].replace("-", " ")
    zone = text[18:].strip() or "UTC"
    try:
        parsed = datetime.strptime(stamp, "%Y%m%d %H:%M:%S")
        return parsed.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)
    except (ValueError, KeyError) as exc:
        raise BarRequestError(f"cannot read endDateTime {text!r}; use YYYYMMDD HH:MM:SS UTC") from exc


def trading_days(end: date, count: int) -> list[date]:
    """The last `count` weekdays up to and including `end`, oldest first."""
    days: list[date] = []
    day = end
    while len(days) < count:
        if day.weekday() < 5:
            days.append(day)
        day -= timedelta(days=1)
    return days[::-1]


def trading_hours(today: date) -> str:
    """CONTRACT_DATA's tradingHours/liquidHours for today and the next weekday."""
    days = [today, *[d for d in (today + timedelta(days=n) for n in range(1, 4)) if d.weekday() < 5][:1]]
    return ";".join(f"{d:%Y%m%d}:0930-{d:%Y%m%d}:1600" for d in days)


def make_bars(
    instrument: Instrument,
    last_price: Decimal,
    end: datetime,
    bar_size: str,
    duration: str,
    format_date: int,
) -> list[Bar]:
    """Bars of `bar_size` covering `duration` up to `end`, the last one closing at `last_price`."""
    days = _session_days(end, duration)
    size = bar_size.strip().lower()
    if size in ("1 day", "1 days"):
        labels = [f"{day:%Y%m%d}" for day in days]
        return _price_path(instrument, last_price, labels, daily=True)
    step = _bar_seconds(size)
    starts = [s for day in days for s in _session_slots(day, step) if s < end]
    if duration.strip().upper().endswith(" S"):
        span = int(duration.split()[0])
        starts = [s for s in starts if s >= end - timedelta(seconds=span)]
    if len(starts) > MAX_BARS:
        raise BarRequestError(f"{len(starts)} bars requested; the fake serves at most {MAX_BARS}")
    labels = [_intraday_label(s, format_date) for s in starts]
    return _price_path(instrument, last_price, labels, daily=False)


def updated_bar(bar: Bar, price: Decimal) -> Bar:
    """The last bar after a new trade at `price` (for keepUpToDate streaming)."""
    return replace(bar, close=price, high=max(bar.high, price), low=min(bar.low, price))


def _session_days(end: datetime, duration: str) -> list[date]:
    match = re.fullmatch(r"(\d+) ([SDWMY])", duration.strip().upper())
    if match is None:
        raise BarRequestError(f"duration {duration!r} is not '<n> S|D|W|M|Y'")
    count, unit = int(match.group(1)), match.group(2)
    sessions = max(1, count * _TRADING_DAYS[unit]) if unit != "S" else 1 + count // 23_400
    local = end.astimezone(EASTERN)
    # Before today's open the latest session with data is the previous one.
    last_day = local.date() if local.time() >= SESSION_OPEN else local.date() - timedelta(days=1)
    return trading_days(last_day, sessions)


def _bar_seconds(size: str) -> int:
    match = re.fullmatch(r"(\d+) (sec|min|hour)s?", size)
    if match is None:
        raise BarRequestError(
            f"bar size {size!r} is not supported; use '1 day', 'N mins', 'N secs' or 'N hours'"
        )
    return int(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def _session_slots(day: date, step: int) -> list[datetime]:
    start = datetime.combine(day, SESSION_OPEN, EASTERN)
    close = datetime.combine(day, SESSION_CLOSE, EASTERN)
    count = int((close - start).total_seconds()) // step
    return [(start + timedelta(seconds=step * n)).astimezone(UTC) for n in range(count)]


def _intraday_label(start: datetime, format_date: int) -> str:
    if format_date == 2:
        return str(int(start.timestamp()))
    return start.astimezone(EASTERN).strftime("%Y%m%d %H:%M:%S US/Eastern")


def _price_path(instrument: Instrument, last: Decimal, labels: list[str], daily: bool) -> list[Bar]:
    rng = random.Random(instrument.con_id)
    swing = 0.01 if daily else 0.002
    closes = [last]
    for _ in labels[1:]:
        closes.append(_cents(closes[-1] * Decimal(str(1 + rng.uniform(-swing, swing)))))
    closes.reverse()
    bars = []
    previous = closes[0]
    for label, close in zip(labels, closes, strict=True):
        open_ = previous
        high = _cents(max(open_, close) * Decimal(str(1 + rng.uniform(0, swing / 2))))
        low = _cents(min(open_, close) * Decimal(str(1 - rng.uniform(0, swing / 2))))
        volume = Decimal(rng.randint(100_000, 2_000_000) if daily else rng.randint(500, 20_000))
        wap = ((high + low + close) / 3).quantize(Decimal("0.0001"))
        bars.append(Bar(label, open_, high, low, close, volume, wap, rng.randint(100, 5_000)))
        previous = close
    return bars


def _cents(value: Decimal) -> Decimal:
    return max(_CENTS, value.quantize(_CENTS))
