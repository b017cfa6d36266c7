"""Property: any rows the order file can hold come back from write -> read exactly as they went in.

"Can hold" means: prices and the investment in whole cents (the precision of the file), Position in
whole shares, Win Rate and ADX with up to 15 significant digits (an Excel number is a double),
target dates Excel can show (1900-03-01 on), and any text an Excel cell holds.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from adapters.excel import ExcelOrderFileReader, ExcelOrderFileWriter
from core.order_file import MARKET, OrderFileRow
from core.values import Side, quantize_price

cents = st.decimals(min_value=0, max_value=Decimal("99999999999.99"), places=2)  # up to 13 digits
small_cents = st.decimals(min_value=0, max_value=Decimal("999999.99"), places=2)
indicator = st.none() | st.decimals(min_value=-10**6, max_value=10**6, places=4)
text = st.text(max_size=40)
symbols = text.filter(lambda s: bool(s.strip()))

rows = st.builds(
    OrderFileRow,
    symbol=symbols | st.sampled_from(["AAPL", "BRK.B", "700", "RDS-A"]),
    current_price=small_cents,
    investment=cents,
    transaction_type=st.sampled_from(Side),
    order_type=st.just(MARKET),
    position=st.integers(min_value=0, max_value=10**12).map(Decimal),
    stop_loss=small_cents,
    take_profit=small_cents,
    target_date=st.none() | st.dates(min_value=date(1900, 3, 1)),
    win_rate=indicator,
    adx=indicator,
    strategy=text,
)


@given(st.lists(rows, max_size=6))
def test_write_then_read_gives_the_same_rows(orders: list[OrderFileRow]) -> None:
    assert ExcelOrderFileReader().read(ExcelOrderFileWriter().write(orders)) == orders


@given(rows, st.decimals(min_value=0, max_value=Decimal("999999.999999"), places=6))
def test_a_price_finer_than_a_cent_reads_back_rounded_to_the_cent(order: OrderFileRow,
                                                                  price: Decimal) -> None:
    fine = replace(order, stop_loss=price)
    [back] = ExcelOrderFileReader().read(ExcelOrderFileWriter().write([fine]))
    assert back == replace(fine, stop_loss=quantize_price(price))
