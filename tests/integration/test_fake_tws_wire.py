"""Wire-level self-checks of the fake TWS: framing, handshake, and every message template decoded
by ib_async's own Decoder at server version 178 with the exact field counts of the spec."""

# ruff: noqa: F811 - the fake TWS fixtures are imported and then requested as parameters

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import pytest
from ib_async.client import Client
from ib_async.decoder import Decoder
from ib_async.wrapper import Wrapper

from tests.fake_tws.framing import (
    SERVER_VERSION,
    FrameBuffer,
    encode_message,
    field_text,
    negotiate_version,
    parse_version_range,
)
from tests.fake_tws.messages import account, market, system
from tests.fake_tws.messages import orders as msg
from tests.fake_tws.model import Bar, ExecutionRecord, Instrument, OrderRecord, Status
from tests.fake_tws.pytest_helpers import IbLogGuard, RawClient, fake_tws, ib_log_guard  # noqa: F401

AAPL = Instrument("AAPL", 265598, "NASDAQ", "USD", "APPLE INC")


@dataclass
class RecordingWrapper:
    """Stands in for ib_async's Wrapper: records every callback the Decoder makes."""

    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    defaultTimezone: Any = UTC

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any) -> None:
            self.calls.append((name, args))

        return record


def interpret(wrapper: RecordingWrapper, fields: list[Any]) -> None:
    """Feed one message to ib_async's Decoder at server version 178."""
    decoder = Decoder(cast(Wrapper, wrapper), SERVER_VERSION)
    decoder.interpret([field_text(f) for f in fields])  # type: ignore[no-untyped-call]


def decode(fields: list[Any]) -> tuple[str, tuple[Any, ...]]:
    """Decode one message with ib_async at 178; return the single wrapper call it produced."""
    wrapper = RecordingWrapper()
    interpret(wrapper, fields)
    assert len(wrapper.calls) == 1, wrapper.calls
    return wrapper.calls[0]


def an_order(**changes: Any) -> OrderRecord:
    base: dict[str, Any] = dict(
        client_id=7, order_id=42, perm_id=1_000_000_123, instrument=AAPL, exchange="SMART",
        account="DU123456", action="SELL", quantity=Decimal(25), order_type="STP LMT",
        limit_price=Decimal("99.5"), aux_price=Decimal("100.25"), tif="GTC", oca_group="grp-1",
        oca_type=3, order_ref="batch-9/leg-2", transmit=True, parent_id=41, outside_rth=True,
        good_after_time="", good_till_date="20301231 23:59:59 UTC", status=Status.PRE_SUBMITTED,
        filled=Decimal(10), avg_fill_price=Decimal("100.1"), last_fill_price=Decimal("100.2"),
        completed_time="20250102 15:00:00 UTC",
    )  # fmt: skip
    base.update(changes)
    return OrderRecord(**base)


def an_execution(realized: Decimal | None = Decimal("12.5")) -> ExecutionRecord:
    return ExecutionRecord(
        exec_id="00000001.6b019e03.01.01", time=datetime(2025, 1, 2, 14, 30, tzinfo=UTC),
        account="DU123456", client_id=7, order_id=42, perm_id=1_000_000_123, instrument=AAPL,
        exchange="NASDAQ", side="SLD", shares=Decimal(10), price=Decimal("100.2"), cum_qty=Decimal(10),
        avg_price=Decimal("100.2"), order_ref="batch-9/leg-2", commission=Decimal(1), realized_pnl=realized,
    )  # fmt: skip


def test_framing_round_trips_split_and_packed_frames() -> None:
    data = encode_message([3, "AAPL", Decimal("1.50"), True, None]) + encode_message([49, 1])
    buffer = FrameBuffer()
    assert buffer.feed(data[:5]) == []
    assert buffer.feed(data[5:]) == [["3", "AAPL", "1.50", "1", ""], ["49", "1"]]


def test_version_negotiation_pins_178() -> None:
    assert negotiate_version(parse_version_range(b"v157..178")) == 178
    assert parse_version_range(b"v157..178 +PACEAPI").options == "+PACEAPI"
    assert Client.MinClientVersion <= SERVER_VERSION <= Client.MaxClientVersion
    with pytest.raises(ValueError, match="speaks only 178"):
        negotiate_version(parse_version_range(b"v100..176"))


def test_open_order_decodes_with_every_dynamic_field_in_place() -> None:
    order = an_order()
    fields = msg.open_order(order)
    assert len(fields) == msg.OPEN_ORDER_FIELDS == 127
    name, (order_id, contract, decoded, state) = decode(fields)
    assert name == "openOrder" and order_id == 42
    assert (contract.conId, contract.symbol, contract.secType, contract.exchange) == (
        265598,
        "AAPL",
        "STK",
        "SMART",
    )
    assert (decoded.orderId, decoded.clientId, decoded.permId, decoded.parentId) == (42, 7, 1_000_000_123, 41)
    assert (decoded.action, decoded.totalQuantity, decoded.orderType) == ("SELL", 25.0, "STP LMT")
    assert (decoded.lmtPrice, decoded.auxPrice, decoded.tif) == (99.5, 100.25, "GTC")
    assert (decoded.ocaGroup, decoded.ocaType, decoded.orderRef) == ("grp-1", 3, "batch-9/leg-2")
    assert (decoded.account, decoded.outsideRth, decoded.goodTillDate) == (
        "DU123456",
        True,
        order.good_till_date,
    )
    assert decoded.whatIf is False and state.status == "PreSubmitted"


def test_unset_prices_stay_unset_in_ib_async() -> None:
    _, (_, _, decoded, _) = decode(
        msg.open_order(an_order(order_type="MKT", limit_price=None, aux_price=None))
    )
    assert decoded.lmtPrice == decoded.auxPrice == 1.7976931348623157e308


def test_what_if_open_order_carries_numeric_margins() -> None:
    estimate = msg.WhatIfEstimate(Decimal(2500), Decimal(2000), Decimal(1_000_000), Decimal("1.25"))
    _, (_, _, decoded, state) = decode(msg.open_order(an_order(), estimate))
    assert decoded.whatIf is True
    assert float(state.initMarginChange) == 2500.0 and state.commission == 1.25


def test_completed_order_decodes() -> None:
    fields = msg.completed_order(an_order(status=Status.FILLED, filled=Decimal(25)))
    assert len(fields) == msg.COMPLETED_ORDER_FIELDS == 96
    name, (contract, decoded, state) = decode(fields)
    assert name == "completedOrder" and contract.symbol == "AAPL"
    assert (decoded.permId, decoded.orderRef, decoded.filledQuantity) == (
        1_000_000_123,
        "batch-9/leg-2",
        25.0,
    )
    assert (state.status, state.completedTime) == ("Filled", "20250102 15:00:00 UTC")


def test_order_status_decodes() -> None:
    fields = msg.order_status(an_order())
    assert len(fields) == msg.ORDER_STATUS_FIELDS == 12
    name, args = decode(fields)
    assert name == "orderStatus"
    assert args == (42, "PreSubmitted", 10.0, 15.0, 100.1, 1_000_000_123, 41, 100.2, 7, "", 0.0)


def test_execution_and_commission_decode() -> None:
    fields = msg.execution_data(-1, an_execution())
    assert len(fields) == msg.EXECUTION_DATA_FIELDS == 32
    name, (req_id, contract, execution) = decode(fields)
    assert (name, req_id, contract.conId) == ("execDetails", -1, 265598)
    assert (execution.execId, execution.side, execution.shares, execution.price) == (
        "00000001.6b019e03.01.01", "SLD", 10.0, 100.2)  # fmt: skip
    assert (execution.permId, execution.clientId, execution.orderId, execution.orderRef) == (
        1_000_000_123, 7, 42, "batch-9/leg-2")  # fmt: skip
    assert execution.time == datetime(2025, 1, 2, 14, 30, tzinfo=UTC)
    report_fields = msg.commission_report(an_execution(realized=None))
    assert len(report_fields) == msg.COMMISSION_REPORT_FIELDS == 8
    _, (report,) = decode(report_fields)
    assert (report.commission, report.realizedPNL) == (1.0, 1.7976931348623157e308)


def test_account_messages_decode_with_strict_arity() -> None:
    position = account.position_data("DU123456", AAPL, Decimal(10), Decimal("150.1"))
    assert len(position) == account.POSITION_DATA_FIELDS == 16
    name, (acct, contract, size, cost) = decode(position)
    assert (name, acct, contract.conId, size, cost) == ("position", "DU123456", 265598, 10.0, 150.1)
    portfolio = account.portfolio_value("DU123456", AAPL, Decimal(10), Decimal(151), Decimal(150), Decimal(0))
    assert len(portfolio) == account.PORTFOLIO_VALUE_FIELDS == 20
    name, args = decode(portfolio)
    assert name == "updatePortfolio" and args[1:] == (10.0, 151.0, 1510.0, 150.0, 10.0, 0.0, "DU123456")
    assert (
        decode(account.account_value("NetLiquidation", "1000.00", "USD", "DU123456"))[0]
        == "updateAccountValue"
    )
    assert decode(account.account_update_multi(5, "DU123456", "TotalCashValue", "1", "USD"))[0] == (
        "accountUpdateMulti")  # fmt: skip


def test_market_messages_decode() -> None:
    name, (req_id, details) = decode(market.contract_data(9, AAPL, "SMART", "20250102:0930-20250102:1600"))
    assert (name, req_id, details.contract.conId, details.contract.primaryExchange) == (
        "contractDetails", 9, 265598, "NASDAQ")  # fmt: skip
    assert details.minTick == 0.01 and details.longName == "APPLE INC"
    tick = market.tick_price(3, market.LAST, Decimal("150.5"), Decimal(100))
    assert len(tick) == market.TICK_PRICE_FIELDS == 7
    assert decode(tick) == ("priceSizeTick", (3, 4, 150.5, 100.0))
    bar = Bar(
        "20250102", Decimal(1), Decimal(2), Decimal("0.5"), Decimal("1.5"), Decimal(1000), Decimal(1), 10
    )
    wrapper = RecordingWrapper()
    interpret(wrapper, market.historical_data(4, "", "", [bar]))
    assert [c[0] for c in wrapper.calls] == ["historicalData", "historicalDataEnd"]
    assert wrapper.calls[0][1][1].close == 1.5


def test_error_message_has_six_fields() -> None:
    fields = system.error(42, 202, "Order Canceled - reason:")
    assert len(fields) == 6
    assert decode(fields) == ("error", (42, 202, "Order Canceled - reason:", ""))


async def test_handshake_answers_exactly_two_fields_then_accounts_and_next_id(fake_tws: Any) -> None:
    client = await RawClient.connect(fake_tws.port, client_id=5)
    assert client.handshake[0] == "178" and len(client.handshake) == 2
    accounts = await client.read_until(lambda f: f[0] == "15")
    next_id = await client.read_until(lambda f: f[0] == "9")
    assert accounts == ["15", "1", "DU123456"] and next_id == ["9", "1", "1"]
    await client.close()


async def test_unknown_request_gets_error_321(fake_tws: Any) -> None:
    client = await RawClient.connect(fake_tws.port)
    client.send([24, 1])  # reqFundamentalData-era id the fake does not serve
    error = await client.read_until(lambda f: f[0] == "4" and f[3] == "321")
    assert "does not implement request id 24" in error[4]
    await client.close()


def test_guard_catches_a_decode_error() -> None:
    """The guard's premise: a wrongly laid-out message is only logged by ib_async, never raised."""
    guard = IbLogGuard()
    logger = logging.getLogger("ib_async")
    logger.addHandler(guard)
    try:
        interpret(RecordingWrapper(), ["61", "3", "DU123456"])  # POSITION_DATA with 3 of 16 fields
    finally:
        logger.removeHandler(guard)
    assert len(guard.wire_errors) == 1 and "Error handling fields" in guard.wire_errors[0]
