"""Benchmark of the Excel order file: write 100 and 10,000 rows to bytes and read them back.

Run: `python bench/excel_io.py` (well under a minute). Prints the median of several repetitions
with the target beside each figure, then, as the last line, one JSON line for tools.

Target (issue 4): writing 100 rows in at most 8 ms. Anchors from the issue: pandas + openpyxl
23 ms and xlsxwriter in memory 7 ms for the 100-row write; fastexcel reads 10,000 rows in 48 ms.
For comparison it also times polars' `write_excel` on the same rows, which the adapter does not
use (see adapters/excel/writer.py for why).
"""

from __future__ import annotations

import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from functools import partial

from adapters.excel import ExcelOrderFileReader, ExcelOrderFileWriter
from core.order_file import MARKET, ORDER_FILE_COLUMNS, OrderFileRow, transaction_type_label
from core.values import Side

WRITE_100_TARGET_MS = 8.0
SYMBOLS = ("AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM")


def sample_rows(count: int) -> list[OrderFileRow]:
    """`count` varied, realistic orders (prices in cents, some optional cells empty)."""
    rows = []
    for i in range(count):
        price = Decimal(10_000 + (i * 7919) % 90_000) / 100
        side = Side.BUY if i % 3 else Side.SELL
        position = Decimal(1 + i % 250)
        offset = (price * Decimal("0.05")).quantize(Decimal("0.01"))
        direction = side.sign  # a Buy stops out below and takes profit above; a Sell the reverse
        stop, target = price - direction * offset, price + direction * 2 * offset
        rows.append(OrderFileRow(
            symbol=SYMBOLS[i % len(SYMBOLS)], current_price=price, investment=price * position,
            transaction_type=side, order_type=MARKET, position=position, stop_loss=stop, take_profit=target,
            target_date=None if i % 10 == 9 else date(2027, 1, 4) + timedelta(days=i % 365),
            win_rate=None if i % 7 == 6 else Decimal(50 + i % 30) + Decimal("0.5"),
            adx=Decimal(15 + i % 40) + Decimal("0.25"), strategy=("Momentum", "Mean Reversion", "")[i % 3],
        ))
    return rows


def timings_ms(action: Callable[[], object], repetitions: int) -> list[float]:
    action()  # warm-up: imports, caches
    times = []
    for _ in range(repetitions):
        start = time.perf_counter_ns()
        action()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return times


def polars_write(rows: Sequence[OrderFileRow]) -> bytes:
    """The same sheet through polars' write_excel (for comparison only)."""
    import polars as pl

    frame = pl.DataFrame(
        [(r.symbol, float(r.current_price), float(r.investment), transaction_type_label(r.transaction_type),
          r.order_type, int(r.position), float(r.stop_loss), float(r.take_profit), r.target_date,
          None if r.win_rate is None else float(r.win_rate), None if r.adx is None else float(r.adx),
          r.strategy) for r in rows],
        schema=list(ORDER_FILE_COLUMNS), orient="row",
    )
    buffer = io.BytesIO()
    frame.write_excel(buffer, worksheet="Orders", autofit=False, freeze_panes=(1, 0),
                      float_precision=2, dtype_formats={pl.Date: "yyyy-mm-dd"})
    return buffer.getvalue()


def fastexcel_load(data: bytes) -> object:
    """fastexcel's part of a read alone: the sheet into a DataFrame, no rows built or checked."""
    import fastexcel

    return fastexcel.read_excel(data).load_sheet(0, schema_sample_rows=None).to_polars()


def main() -> int:
    writer, reader = ExcelOrderFileWriter(), ExcelOrderFileReader()
    medians: dict[str, float] = {}
    fastest: dict[str, float] = {}
    for count, repetitions in ((100, 41), (10_000, 5)):
        rows = sample_rows(count)
        data = writer.write(rows)
        if reader.read(data) != rows:
            print(f"round trip of {count} rows FAILED", file=sys.stderr)
            return 1
        for name, action in ((f"write_{count}_ms", partial(writer.write, rows)),
                             (f"read_{count}_ms", partial(reader.read, data))):
            times = timings_ms(action, repetitions)
            medians[name], fastest[name] = statistics.median(times), min(times)
        if count == 100:
            polars_100 = statistics.median(timings_ms(partial(polars_write, rows), repetitions))
        else:
            raw_load = statistics.median(timings_ms(partial(fastexcel_load, data), repetitions))
    metrics: dict[str, dict[str, object]] = {}
    for name, median in medians.items():
        target = WRITE_100_TARGET_MS if name == "write_100_ms" else None
        value = round(median, 2)
        metrics[name] = {"value": value, "unit": "ms", "target": target,
                         "ok": None if target is None else value <= target}

    def line(label: str, name: str, note: str) -> None:
        metric = metrics[name]
        verdict = "" if metric["ok"] is None else ("  OK" if metric["ok"] else "  MISSED")
        print(f"{label:<32}{medians[name]:>9.2f} ms (min {fastest[name]:7.2f})   {note}{verdict}")

    print(f"Excel order file, median of repetitions (Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load {os.getloadavg()[0]:.2f})")
    line("write 100 rows (xlsxwriter)", "write_100_ms",
         f"target <= {WRITE_100_TARGET_MS:g} ms; anchors: pandas+openpyxl 23 ms, xlsxwriter in memory 7 ms")
    line("read 100 rows (fastexcel)", "read_100_ms", "no target")
    line("write 10,000 rows (xlsxwriter)", "write_10000_ms", "no target")
    line("read 10,000 rows (fastexcel)", "read_10000_ms",
         "no target; anchor: fastexcel reads 10,000 rows in 48 ms")
    print(f"{'  of which fastexcel load':<32}{raw_load:>9.2f} ms                 10,000 rows into a "
          f"DataFrame; the rest is building and checking Decimal rows")
    print(f"{'  for comparison: polars':<32}{polars_100:>9.2f} ms                 write_excel, "
          f"the same 100 rows; not used by the adapter")
    print(json.dumps({"bench": "excel_io", "metrics": metrics}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
