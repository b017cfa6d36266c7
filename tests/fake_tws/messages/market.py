"""Market messages: contract details, ticks, historical bars (spec §7, §7.1, §9.8, §9.9)."""

from __future__ import annotations

from decimal import Decimal

from tests.fake_tws.framing import Field
from tests.fake_tws.ids import Out
from tests.fake_tws.model import Bar, Instrument

TICK_PRICE_FIELDS = 7
CONTRACT_DATA_FIELDS = 40

BID, ASK, LAST, CLOSE = 1, 2, 4, 9
BID_SIZE, ASK_SIZE, LAST_SIZE, VOLUME = 0, 3, 5, 8
DELAYED = {BID: 66, ASK: 67, LAST: 68}
"""Delayed data uses its own tick types for bid, ask and last."""


def contract_data(req_id: int, instrument: Instrument, exchange: str, trading_hours: str) -> list[Field]:
    """CONTRACT_DATA for a stock at 178: no version field, no secIds, 40 fields."""
    return [
        Out.CONTRACT_DATA, req_id, instrument.symbol, "STK", "", "0.0", "", exchange,
        instrument.currency, instrument.symbol, "NMS", instrument.symbol, instrument.con_id,
        instrument.min_tick, "", "LMT,MKT,STP,STP LMT",
        f"SMART,{instrument.primary_exchange}", 1, 0, instrument.long_name or instrument.symbol,
        instrument.primary_exchange, "", "", "", "", "US/Eastern", trading_hours, trading_hours,
        "", "", 0,                                                   # evRule, evMultiplier, secIds
        1, "", "", "26,26", "", "COMMON", "0.0001", "0.0001", "100",
    ]  # fmt: skip


def contract_data_end(req_id: int) -> list[Field]:
    """CONTRACT_DATA_END."""
    return [Out.CONTRACT_DATA_END, 1, req_id]


def market_data_type(req_id: int, data_type: int) -> list[Field]:
    """MARKET_DATA_TYPE: 1 live, 2 frozen, 3 delayed, 4 delayed-frozen."""
    return [Out.MARKET_DATA_TYPE, 1, req_id, data_type]


def tick_price(req_id: int, tick_type: int, price: Decimal, size: Decimal) -> list[Field]:
    """TICK_PRICE: strictly 7 fields; bid/ask with size 0 would read as "no price" in ib_async."""
    return [Out.TICK_PRICE, 6, req_id, tick_type, price, size, 0]


def tick_size(req_id: int, tick_type: int, size: Decimal) -> list[Field]:
    """TICK_SIZE."""
    return [Out.TICK_SIZE, 6, req_id, tick_type, size]


def tick_snapshot_end(req_id: int) -> list[Field]:
    """TICK_SNAPSHOT_END: required to finish a snapshot request."""
    return [Out.TICK_SNAPSHOT_END, 1, req_id]


def historical_data(req_id: int, start: str, end: str, bars: list[Bar]) -> list[Field]:
    """HISTORICAL_DATA: all bars in one message, which also ends the request at 178."""
    fields: list[Field] = [Out.HISTORICAL_DATA, req_id, start, end, len(bars)]
    for bar in bars:
        fields += [bar.date, bar.open, bar.high, bar.low, bar.close, bar.volume, bar.wap, bar.count]
    return fields


def historical_data_update(req_id: int, bar: Bar) -> list[Field]:
    """HISTORICAL_DATA_UPDATE (keepUpToDate): note the close/high/low order."""
    return [
        Out.HISTORICAL_DATA_UPDATE, req_id, bar.count, bar.date, bar.open, bar.close, bar.high,
        bar.low, bar.wap, bar.volume,
    ]  # fmt: skip


def head_timestamp(req_id: int, timestamp: str) -> list[Field]:
    """HEAD_TIMESTAMP: the earliest date with data."""
    return [Out.HEAD_TIMESTAMP, req_id, timestamp]
