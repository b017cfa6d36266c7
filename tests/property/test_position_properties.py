"""Properties of the position fold: order independence, conservation of quantity, the cash-flow
identity of P&L, and flips."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from core.broker_events import Fill
from core.clock import EPOCH
from core.position import Position, fold_fills
from core.values import ZERO, ExecId, OrderRef, Side

SYMBOL = "AAPL"
prices = st.integers(1, 1_000_000).map(lambda cents: Decimal(cents) / 100)  # 0.01 .. 10,000.00
quantities = st.integers(1, 5_000).map(Decimal)
commissions = st.integers(0, 500).map(lambda cents: Decimal(cents) / 100)


@st.composite
def fills(draw: st.DrawFn, side: Side | None = None) -> Fill:
    return Fill(
        ExecId("E"), OrderRef("ref"), SYMBOL, side or draw(st.sampled_from(Side)),
        draw(quantities), draw(prices), EPOCH, draw(commissions),
    )


fill_lists = st.lists(fills(), max_size=25)


def signed(fill: Fill) -> Decimal:
    return fill.side.sign * fill.quantity


def cash_flow(fill_list: list[Fill]) -> Decimal:
    """What the fills paid (negative) and received (positive), before commissions."""
    return sum((-signed(fill) * fill.price for fill in fill_list), ZERO)


@given(st.sampled_from(Side).flatmap(lambda side: st.lists(fills(side), min_size=1, max_size=20)), st.data())
def test_fills_that_all_add_on_one_side_fold_the_same_in_any_order(
    adding: list[Fill], data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(adding))
    first, second = fold_fills(SYMBOL, adding), fold_fills(SYMBOL, shuffled)
    assert first.quantity == second.quantity == sum((signed(f) for f in adding), ZERO)
    assert first.cost_basis == second.cost_basis
    assert first.avg_price == second.avg_price
    assert first.commissions == second.commissions
    assert first.realized_pnl == second.realized_pnl == ZERO


@given(fill_lists, st.data())
def test_quantity_is_the_sum_of_signed_fills_in_any_order(fill_list: list[Fill], data: st.DataObject) -> None:
    expected = sum((signed(f) for f in fill_list), ZERO)
    assert fold_fills(SYMBOL, fill_list).quantity == expected
    assert fold_fills(SYMBOL, data.draw(st.permutations(fill_list))).quantity == expected


@given(fill_lists, prices)
def test_pnl_is_the_cash_flow_plus_the_open_quantity_at_the_mark(
    fill_list: list[Fill], mark: Decimal
) -> None:
    position = fold_fills(SYMBOL, fill_list)
    total_commissions = sum((f.commission for f in fill_list), ZERO)
    assert position.commissions == total_commissions
    booked = position.realized_pnl + position.unrealized_pnl(mark) - position.commissions
    assert booked == position.net_pnl(mark)
    assert booked == cash_flow(fill_list) + position.quantity * mark - total_commissions


@given(fill_lists)
def test_the_realized_pnl_is_the_sum_of_what_each_fill_realized(fill_list: list[Fill]) -> None:
    position = Position(SYMBOL)
    assert sum((position.apply(f) for f in fill_list), ZERO) == position.realized_pnl


@given(fill_lists.filter(lambda fl: sum((signed(f) for f in fl), ZERO) != 0), quantities, prices)
def test_a_flip_opens_the_rest_at_the_flipping_price(
    fill_list: list[Fill], beyond: Decimal, price: Decimal
) -> None:
    position = fold_fills(SYMBOL, fill_list)
    held, cost_basis = position.quantity, position.cost_basis
    side = Side.SELL if held > 0 else Side.BUY
    flip = Fill(ExecId("F"), OrderRef("flip"), SYMBOL, side, abs(held) + beyond, price, EPOCH)
    realized = position.apply(flip)
    assert position.quantity == -side.opposite.sign * beyond
    assert position.side is side
    assert position.avg_price == price
    assert position.cost_basis == position.quantity * price
    assert realized == held * price - cost_basis  # the whole old position closed at `price`
