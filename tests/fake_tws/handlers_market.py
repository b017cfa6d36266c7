"""Handlers for market requests: contract details, market data, historical bars."""

from __future__ import annotations

from decimal import Decimal

from tests.fake_tws.bars import BarRequestError, make_bars, parse_end, trading_hours
from tests.fake_tws.connection import BarStream, Session
from tests.fake_tws.context import Context
from tests.fake_tws.feeds import TICK_SIZE, send_ticks
from tests.fake_tws.messages import market, system
from tests.fake_tws.model import ContractRef, Instrument
from tests.fake_tws.requests import parse_contract, parse_historical, parse_market_data, to_int

NO_SECURITY_DEFINITION = 200
HISTORICAL_DATA_ERROR = 162
DEFAULT_BAR_PRICE = Decimal(100)


def _resolve(ctx: Context, session: Session, req_id: int, contract: ContractRef) -> Instrument | None:
    instrument = ctx.instruments.resolve(contract)
    if instrument is None:
        session.send(
            system.error(
                req_id, NO_SECURITY_DEFINITION, "No security definition has been found for the request"
            )
        )
    return instrument


def contract_details(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqContractDetails (9): exactly one CONTRACT_DATA and the END, or error 200 (no END)."""
    req_id = to_int(fields[2])
    contract = parse_contract(fields, 3)
    instrument = _resolve(ctx, session, req_id, contract)
    if instrument is None:
        return
    hours = trading_hours(ctx.clock().date())
    session.send(market.contract_data(req_id, instrument, contract.exchange or "SMART", hours))
    session.send(market.contract_data_end(req_id))


def market_data_type(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqMarketDataType (59): 1 live, 2 frozen, 3 delayed, 4 delayed-frozen."""
    session.market_data_type = to_int(fields[2], 1)


def market_data(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqMktData (1): type, bid/ask/last and volume; snapshot ends, streaming keeps pushing."""
    request = parse_market_data(fields)
    instrument = _resolve(ctx, session, request.req_id, request.contract)
    if instrument is None:
        return
    session.send(market.market_data_type(request.req_id, session.market_data_type))
    price = ctx.instruments.price(instrument.symbol)
    if price is not None:
        send_ticks(session, request.req_id, instrument, price)
        session.send(market.tick_size(request.req_id, market.VOLUME, TICK_SIZE))
    if request.snapshot:
        session.send(market.tick_snapshot_end(request.req_id))
    else:
        session.subscriptions.tickers[request.req_id] = instrument.con_id


def cancel_market_data(ctx: Context, session: Session, fields: list[str]) -> None:
    """cancelMktData (2): `2, 2, reqId`."""
    session.subscriptions.tickers.pop(to_int(fields[2]), None)


def historical_data(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqHistoricalData (20): all bars in one message; keepUpToDate streams the last bar."""
    request = parse_historical(fields)
    instrument = _resolve(ctx, session, request.req_id, request.contract)
    if instrument is None:
        return
    price = ctx.instruments.price(instrument.symbol) or DEFAULT_BAR_PRICE
    try:
        if request.what_to_show.upper() == "SCHEDULE":
            raise BarRequestError("the fake TWS does not serve SCHEDULE; ask for TRADES or MIDPOINT")
        end = parse_end(request.end, ctx.clock())
        bars = make_bars(instrument, price, end, request.bar_size, request.duration, request.format_date)
    except BarRequestError as exc:
        session.send(
            system.error(
                request.req_id, HISTORICAL_DATA_ERROR, f"Historical Market Data Service error message:{exc}"
            )
        )
        return
    stamp = "%Y%m%d  %H:%M:%S"
    session.send(market.historical_data(request.req_id, "", end.strftime(stamp), bars))
    if request.keep_up_to_date and bars:
        session.subscriptions.bars[request.req_id] = BarStream(instrument.con_id, bars[-1])


def cancel_historical_data(ctx: Context, session: Session, fields: list[str]) -> None:
    """cancelHistoricalData (25): also sent by ib_async when its own timeout expires."""
    session.subscriptions.bars.pop(to_int(fields[2]), None)


def head_timestamp(ctx: Context, session: Session, fields: list[str]) -> None:
    """reqHeadTimeStamp (87): `87, reqId, contract(12), includeExpired, useRTH, whatToShow, formatDate`."""
    req_id = to_int(fields[1])
    if _resolve(ctx, session, req_id, parse_contract(fields, 2)) is None:
        return
    format_date = to_int(fields[17], 1) if len(fields) > 17 else 1
    session.send(market.head_timestamp(req_id, "345479400" if format_date == 2 else "19801212  14:30:00"))
