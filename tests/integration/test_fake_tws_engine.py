"""The fake broker's state rules without sockets: money folding (property), bracket invariants under
any price path and partial fills (property), event order of a fill, deterministic bars."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from tests.fake_tws.bars import make_bars
from tests.fake_tws.engine import Engine
from tests.fake_tws.events import EngineEvent, Filled, OrderChanged, OrderError
from tests.fake_tws.faults import Faults
from tests.fake_tws.instruments import InstrumentBook
from tests.fake_tws.ledger import Ledger
from tests.fake_tws.model import ContractRef, Instrument, OrderRequest, Status

NOW = datetime(2025, 1, 2, 15, 30, tzinfo=UTC)
ACCOUNT = "DU123456"
AAPL = ContractRef(0, "AAPL", "STK", "", "0", "", "", "SMART", "", "USD", "", "")

fills = st.lists(
    st.tuples(
        st.booleans(),
        st.integers(1, 500).map(Decimal),
        st.integers(100, 100_000).map(lambda cents: Decimal(cents) / 100),
    ),
    max_size=30,
)


@given(fills, st.integers(100, 100_000).map(lambda cents: Decimal(cents) / 100))
def test_ledger_pnl_identity(trades: list[tuple[bool, Decimal, Decimal]], mark: Decimal) -> None:
    """Cash change plus marked position equals realized plus unrealized P&L (IB's avg-cost books)."""
    ledger = Ledger([ACCOUNT], Decimal(1_000_000))
    instrument = Instrument("AAPL", 1)
    realized = Decimal(0)
    for is_buy, shares, price in trades:
        effect = ledger.apply_fill(ACCOUNT, instrument, is_buy, shares, price)
        realized += effect.realized_pnl or 0
    position = ledger.position(ACCOUNT, instrument)
    assert position.quantity == sum(s if b else -s for b, s, _ in trades)
    assert position.realized_pnl == realized
    values = {k: Decimal(v) for k, v, c in ledger.account_values(ACCOUNT, lambda _: mark) if c}
    total = values["TotalCashValue"] - 1_000_000 + position.quantity * mark
    unrealized = position.quantity * (mark - position.avg_cost)
    assert abs(total - (realized + unrealized)) <= Decimal("0.01") + abs(position.quantity) * Decimal("1e-7")


def new_engine(events: list[EngineEvent], faults: Faults | None = None) -> Engine:
    instruments = InstrumentBook({"AAPL": 150})
    return Engine([ACCOUNT], instruments, Ledger([ACCOUNT]), faults or Faults(), lambda: NOW, events.append)


def request(order_id: int, action: str, order_type: str, **kw: object) -> OrderRequest:
    fields: dict[str, object] = dict(
        order_id=order_id, contract=AAPL, action=action, quantity=Decimal(10), order_type=order_type,
        limit_price=None, aux_price=None, tif="DAY", oca_group="", account="", order_ref="",
        transmit=True, parent_id=0, outside_rth=False, good_after_time="", good_till_date="",
        oca_type=0, what_if=False,
    )  # fmt: skip
    fields.update(kw)
    return OrderRequest(**fields)  # type: ignore[arg-type]


def place_bracket(engine: Engine) -> None:
    engine.place(1, request(1, "BUY", "LMT", limit_price=Decimal(149), transmit=False))
    engine.place(1, request(2, "SELL", "LMT", limit_price=Decimal(160), parent_id=1, transmit=False))
    engine.place(1, request(3, "SELL", "STP", aux_price=Decimal(140), parent_id=1))


prices = st.lists(st.integers(130, 170).map(Decimal), max_size=25)
partials = st.lists(st.one_of(st.none(), st.integers(1, 10).map(Decimal)), min_size=1, max_size=25)


@given(prices, partials)
def test_bracket_never_oversells_and_children_wait_for_the_parent(
    path: list[Decimal], partial_fills: list[Decimal | None]
) -> None:
    faults = Faults()
    engine = new_engine([], faults)
    place_bracket(engine)
    for step, price in enumerate(path):
        faults.set_partial_fill(partial_fills[step % len(partial_fills)])
        engine.set_price("AAPL", price)
        parent, take_profit, stop_loss = (engine.book.get(1, i) for i in (1, 2, 3))
        assert parent and take_profit and stop_loss
        for order in (parent, take_profit, stop_loss):
            assert 0 <= order.filled <= order.quantity
        exits = take_profit.filled + stop_loss.filled
        if parent.status != Status.FILLED:
            assert exits == 0
        assert exits <= parent.filled
        position = engine.ledger.position(ACCOUNT, parent.instrument).quantity
        assert position == parent.filled - exits >= 0
        if exits == parent.quantity:
            assert {take_profit.status, stop_loss.status} <= {Status.FILLED, Status.CANCELLED}


def test_fill_events_come_in_wire_order() -> None:
    events: list[EngineEvent] = []
    engine = new_engine(events)
    place_bracket(engine)
    events.clear()
    engine.set_price("AAPL", 149)
    engine.set_price("AAPL", 160)
    kinds = [(type(e).__name__, getattr(getattr(e, "order", None), "order_id", None)) for e in events]
    tp_fill = kinds.index(("Filled", 2))
    assert kinds[tp_fill + 1] == ("PortfolioChanged", None)
    cancel = next(e for e in events[tp_fill:] if isinstance(e, OrderChanged) and e.order.order_id == 3)
    assert cancel.order.status == Status.CANCELLED and not cancel.with_open_order
    error = next(e for e in events[tp_fill:] if isinstance(e, OrderError))
    assert (error.order_id, error.code) == (3, 202)
    assert events.index(cancel) < events.index(error)
    assert sum(isinstance(e, Filled) for e in events) == 2


def test_a_child_without_its_parent_is_rejected() -> None:
    events: list[EngineEvent] = []
    engine = new_engine(events)
    engine.place(1, request(5, "SELL", "STP", aux_price=Decimal(140), parent_id=4))
    [error, inactive] = events
    assert isinstance(error, OrderError) and error.code == 201 and "parent order 4" in error.message
    assert isinstance(inactive, OrderChanged) and inactive.order.status == Status.INACTIVE


def test_staged_orders_report_nothing_until_transmitted() -> None:
    events: list[EngineEvent] = []
    engine = new_engine(events)
    engine.place(1, request(1, "BUY", "LMT", limit_price=Decimal(149), transmit=False))
    engine.place(1, request(2, "SELL", "LMT", limit_price=Decimal(160), parent_id=1, transmit=False))
    assert events == []
    engine.cancel(1, 2)  # cancelling a staged order is silent too
    assert events == [] and engine.book.get(1, 2).status == Status.CANCELLED  # type: ignore[union-attr]


def test_bars_are_deterministic_and_end_at_the_price() -> None:
    instrument = Instrument("AAPL", 265598)
    first = make_bars(instrument, Decimal(150), NOW, "1 day", "5 D", 1)
    again = make_bars(instrument, Decimal(150), NOW, "1 day", "5 D", 1)
    assert first == again
    assert [b.date for b in first] == ["20241227", "20241230", "20241231", "20250101", "20250102"]
    assert first[-1].close == Decimal(150)
    minutes = make_bars(instrument, Decimal(150), NOW, "30 mins", "3600 S", 2)
    starts = [datetime(2025, 1, 2, 14, 30, tzinfo=UTC), datetime(2025, 1, 2, 15, 0, tzinfo=UTC)]
    assert [b.date for b in minutes] == [str(int(start.timestamp())) for start in starts]
