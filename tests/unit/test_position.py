"""Position as a fold of fills: long, short, adding, reducing, closing, flipping, and refusals."""

from __future__ import annotations

from decimal import Decimal

import pytest

from core.broker_events import Fill
from core.clock import EPOCH
from core.position import Position, fold_fills
from core.values import ExecId, OrderRef, Side

D = Decimal


def fill(
    side: Side, quantity: str | int, price: str, commission: str = "0", symbol: str = "AAPL", n: int = 1
) -> Fill:
    return Fill(
        ExecId(f"E{n}"), OrderRef("ref"), symbol, side, D(quantity), D(price), EPOCH, D(commission)
    )


def test_a_new_position_is_flat() -> None:
    position = Position("AAPL")
    assert position.quantity == 0
    assert position.avg_price == 0
    assert position.is_flat
    assert position.side is None
    assert position.unrealized_pnl(D("123.45")) == 0
    assert position.net_pnl(D("123.45")) == 0


def test_buying_opens_a_long_at_the_fill_price() -> None:
    position = Position("AAPL")
    realized = position.apply(fill(Side.BUY, 100, "150.25", "1.00"))
    assert realized == 0
    assert position.quantity == 100
    assert position.avg_price == D("150.25")
    assert position.side is Side.BUY
    assert position.commissions == D("1.00")
    assert position.unrealized_pnl(D("151.25")) == D("100.00")
    assert position.net_pnl(D("151.25")) == D("99.00")


def test_adding_to_a_long_averages_the_price() -> None:
    position = fold_fills("AAPL", [fill(Side.BUY, 100, "10.00"), fill(Side.BUY, 300, "12.00", n=2)])
    assert position.quantity == 400
    assert position.avg_price == D("11.50")
    assert position.realized_pnl == 0


def test_reducing_a_long_realizes_against_the_average_and_keeps_it() -> None:
    position = fold_fills("AAPL", [fill(Side.BUY, 100, "10.00"), fill(Side.BUY, 100, "12.00", n=2)])
    realized = position.apply(fill(Side.SELL, 50, "13.00", n=3))
    assert realized == D("100.00")  # 50 * (13 - 11)
    assert position.quantity == 150
    assert position.avg_price == D("11.00")
    assert position.realized_pnl == D("100.00")


def test_closing_a_long_leaves_it_flat_with_the_whole_pnl_realized() -> None:
    position = fold_fills(
        "AAPL", [fill(Side.BUY, 100, "10.00", "1"), fill(Side.SELL, 100, "9.50", "1", n=2)]
    )
    assert position.is_flat
    assert position.avg_price == 0
    assert position.realized_pnl == D("-50.00")
    assert position.commissions == D("2")
    assert position.net_pnl(D("1000")) == D("-52.00")


def test_selling_opens_a_short_and_buying_back_cheaper_makes_money() -> None:
    position = Position("TSLA")
    position.apply(fill(Side.SELL, 10, "200.00", symbol="TSLA"))
    assert position.quantity == -10
    assert position.side is Side.SELL
    assert position.avg_price == D("200.00")
    assert position.unrealized_pnl(D("190.00")) == D("100.00")
    realized = position.apply(fill(Side.BUY, 4, "190.00", symbol="TSLA", n=2))
    assert realized == D("40.00")
    assert position.quantity == -6
    assert position.avg_price == D("200.00")


def test_adding_to_a_short_averages_the_price() -> None:
    position = fold_fills("TSLA", [
        fill(Side.SELL, 10, "200.00", symbol="TSLA"),
        fill(Side.SELL, 30, "220.00", symbol="TSLA", n=2),
    ])
    assert position.quantity == -40
    assert position.avg_price == D("215.00")


def test_a_fill_larger_than_a_long_flips_it_short_at_the_fill_price() -> None:
    position = fold_fills("AAPL", [fill(Side.BUY, 100, "10.00")])
    realized = position.apply(fill(Side.SELL, 150, "12.00", n=2))
    assert realized == D("200.00")  # only the 100 that were long realize
    assert position.quantity == -50
    assert position.avg_price == D("12.00")
    assert position.unrealized_pnl(D("11.00")) == D("50.00")


def test_a_fill_larger_than_a_short_flips_it_long_at_the_fill_price() -> None:
    position = fold_fills("AAPL", [fill(Side.SELL, 20, "50.00")])
    realized = position.apply(fill(Side.BUY, 30, "55.00", n=2))
    assert realized == D("-100.00")
    assert position.quantity == 10
    assert position.avg_price == D("55.00")


def test_a_non_terminating_average_is_kept_unrounded_and_a_full_close_is_exact() -> None:
    position = fold_fills("AAPL", [
        fill(Side.BUY, 1, "1.00"), fill(Side.BUY, 1, "1.00", n=2), fill(Side.BUY, 1, "2.00", n=3),
    ])
    assert position.cost_basis == D("4.00")
    assert position.avg_price == D(4) / D(3)  # not rounded to cents
    position.apply(fill(Side.SELL, 3, "2.00", n=4))
    assert position.realized_pnl == D("2.00")  # exactly 6.00 - 4.00, no residue


def test_a_partial_close_of_a_non_terminating_average_keeps_the_books_balanced() -> None:
    position = fold_fills("AAPL", [
        fill(Side.BUY, 1, "1.00"), fill(Side.BUY, 1, "1.00", n=2), fill(Side.BUY, 1, "2.00", n=3),
    ])
    first = position.apply(fill(Side.SELL, 1, "2.00", n=4))
    assert first == D("0.666666666667")  # the cost share 4/3 is kept to 12 places
    assert position.cost_basis == D("2.666666666667")
    second = position.apply(fill(Side.SELL, 2, "2.00", n=5))
    assert second == D("1.333333333333")
    assert position.realized_pnl == D("2.00")  # the round trip balances to the last digit
    assert position.is_flat


def test_fold_fills_is_the_same_as_applying_one_by_one() -> None:
    fills = [fill(Side.BUY, 10, "5.00"), fill(Side.SELL, 25, "6.00", n=2), fill(Side.BUY, 5, "5.50", n=3)]
    position = Position("AAPL")
    total = sum((position.apply(f) for f in fills), D(0))
    assert fold_fills("AAPL", fills) == position
    assert total == position.realized_pnl


def test_a_fill_for_another_symbol_is_refused_and_changes_nothing() -> None:
    position = fold_fills("AAPL", [fill(Side.BUY, 10, "5.00")])
    with pytest.raises(ValueError, match=r"fill E9 is for 'MSFT'.*position in 'AAPL'.*own symbol"):
        position.apply(fill(Side.BUY, 10, "5.00", symbol="MSFT", n=9))
    assert position == fold_fills("AAPL", [fill(Side.BUY, 10, "5.00")])
    with pytest.raises(ValueError, match="'MSFT'"):
        fold_fills("AAPL", [fill(Side.BUY, 1, "5.00"), fill(Side.BUY, 1, "5.00", symbol="MSFT", n=2)])


@pytest.mark.parametrize("quantity", ["0", "-5"])
def test_a_fill_without_a_positive_quantity_is_refused(quantity: str) -> None:
    with pytest.raises(ValueError, match="quantity must be above 0"):
        Position("AAPL").apply(fill(Side.BUY, quantity, "5.00"))


@pytest.mark.parametrize("price", ["0", "-1.00"])
def test_a_fill_without_a_positive_price_is_refused(price: str) -> None:
    position = Position("AAPL")
    with pytest.raises(ValueError, match="price must be above 0"):
        position.apply(fill(Side.BUY, 5, price, commission="1"))
    assert position.commissions == 0  # a refused fill leaves no trace
