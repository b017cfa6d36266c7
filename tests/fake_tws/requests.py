"""Parsers for the client requests the fake handles (spec §6), at server version 178.

Every parser takes the full field list of one message, message id included, so the indices here
are the indices of the spec's tables.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation

from tests.fake_tws.model import ContractRef, OrderRequest

CONTRACT_FIELDS = 12
_UNSET_DOUBLE = 1.7976931348623157e308


class RequestError(ValueError):
    """A request the fake cannot parse; the text says which field was wrong."""


def to_int(text: str, default: int = 0) -> int:
    """Parse an int field; empty means `default`."""
    if text == "":
        return default
    try:
        return int(text)
    except ValueError:
        return int(float(text))


def to_decimal(text: str) -> Decimal | None:
    """Parse a float field sent by ib_async (`140.0`, `5`, `1e-05`); empty means unset."""
    if text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation as exc:
        raise RequestError(f"not a number: {text!r}") from exc
    return None if float(value) >= _UNSET_DOUBLE else value


def to_bool(text: str) -> bool:
    """Parse a boolean field (`1`/`0`, empty means false)."""
    return text not in ("", "0")


class FieldCursor:
    """Reads the fields of one message in order, for layouts with optional blocks."""

    def __init__(self, fields: list[str], start: int = 0) -> None:
        self._fields = fields
        self.position = start

    def take(self) -> str:
        """The next field; raise RequestError when the message is too short."""
        if self.position >= len(self._fields):
            raise RequestError(f"message ends at field {self.position}; expected more fields")
        value = self._fields[self.position]
        self.position += 1
        return value

    def skip(self, count: int) -> None:
        """Skip `count` fields."""
        for _ in range(count):
            self.take()

    def contract(self) -> ContractRef:
        """The next 12 fields as a contract."""
        values = [self.take() for _ in range(CONTRACT_FIELDS)]
        return ContractRef(to_int(values[0]), *values[1:])


def parse_contract(fields: list[str], start: int) -> ContractRef:
    """The 12 contract fields starting at index `start`."""
    return FieldCursor(fields, start).contract()


def parse_place_order(fields: list[str]) -> OrderRequest:
    """Parse placeOrder (id 3). Index 0–34 are fixed; the rest is walked to find whatIf.

    Features the fake does not model (combos, delta-neutral, scale, hedge, algos, PEG BENCH,
    conditions) are reported in `unsupported`, so the engine can reject them with a reason.
    """
    contract = parse_contract(fields, 2)
    request = OrderRequest(
        order_id=to_int(fields[1]),
        contract=contract,
        action=fields[16],
        quantity=to_decimal(fields[17]) or Decimal(0),
        order_type=fields[18],
        limit_price=to_decimal(fields[19]),
        aux_price=to_decimal(fields[20]),
        tif=fields[21],
        oca_group=fields[22],
        account=fields[23],
        order_ref=fields[26],
        transmit=to_bool(fields[27]),
        parent_id=to_int(fields[28]),
        outside_rth=to_bool(fields[33]),
        good_after_time="",
        good_till_date="",
        oca_type=0,
        what_if=False,
    )
    if contract.sec_type == "BAG":
        return replace(request, unsupported="combo (BAG) orders")
    return _parse_tail(fields, request)


def _parse_tail(fields: list[str], request: OrderRequest) -> OrderRequest:
    cursor = FieldCursor(fields, 35)
    cursor.skip(2)  # deprecated sharesAllocation, discretionaryAmt
    good_after_time = cursor.take()
    good_till_date = cursor.take()
    cursor.skip(3 + 4)  # faGroup, faMethod, faPercentage; modelCode, shortSaleSlot, location, exempt
    oca_type = to_int(cursor.take())
    cursor.skip(17)  # rule80A .. volatilityType
    if cursor.take():
        return replace(request, unsupported="delta-neutral orders")
    cursor.skip(1)  # deltaNeutralAuxPrice
    cursor.skip(6)  # continuousUpdate .. scaleSubsLevelSize
    increment = to_decimal(cursor.take())
    if increment is not None and increment > 0:
        return replace(request, unsupported="scale orders")
    cursor.skip(3)  # scaleTable, activeStartTime, activeStopTime
    if cursor.take():
        return replace(request, unsupported="hedge orders")
    cursor.skip(4)  # optOutSmartRouting, clearingAccount, clearingIntent, notHeld
    if to_bool(cursor.take()):
        return replace(request, unsupported="delta-neutral contracts")
    if cursor.take():
        return replace(request, unsupported="algo orders")
    cursor.skip(1)  # algoId
    what_if = to_bool(cursor.take())
    cursor.skip(4)  # orderMiscOptions, solicited, randomizeSize, randomizePrice
    if request.order_type in {"PEG BENCH", "PEGBENCH"}:
        return replace(request, unsupported="PEG BENCH orders")
    if to_int(cursor.take()) > 0:
        return replace(request, unsupported="order conditions")
    return replace(
        request,
        good_after_time=good_after_time,
        good_till_date=good_till_date,
        oca_type=oca_type,
        what_if=what_if,
    )


@dataclass(frozen=True, slots=True)
class MarketDataRequest:
    """reqMktData (id 1): a ticker subscription or a one-off snapshot."""

    req_id: int
    contract: ContractRef
    snapshot: bool


def parse_market_data(fields: list[str]) -> MarketDataRequest:
    """Parse reqMktData: `1, 11, reqId, contract(12), [legs], dncFlag[, dnc], ticks, snapshot, ...`."""
    cursor = FieldCursor(fields, 2)
    req_id = to_int(cursor.take())
    contract = cursor.contract()
    if contract.sec_type == "BAG":
        legs = to_int(cursor.take())
        cursor.skip(4 * legs)
    if to_bool(cursor.take()):
        cursor.skip(3)
    cursor.skip(1)  # genericTickList
    return MarketDataRequest(req_id, contract, to_bool(cursor.take()))


@dataclass(frozen=True, slots=True)
class HistoricalRequest:
    """reqHistoricalData (id 20)."""

    req_id: int
    contract: ContractRef
    end: str
    bar_size: str
    duration: str
    use_rth: bool
    what_to_show: str
    format_date: int
    keep_up_to_date: bool


def parse_historical(fields: list[str]) -> HistoricalRequest:
    """Parse reqHistoricalData: `20, reqId, contract(12), includeExpired, end, barSize, duration, ...`."""
    cursor = FieldCursor(fields, 1)
    req_id = to_int(cursor.take())
    contract = cursor.contract()
    cursor.skip(1)  # includeExpired
    end, bar_size, duration = cursor.take(), cursor.take(), cursor.take()
    use_rth = to_bool(cursor.take())
    what_to_show = cursor.take()
    format_date = to_int(cursor.take(), 1)
    if contract.sec_type == "BAG":
        cursor.skip(4 * to_int(cursor.take()))
    keep_up_to_date = to_bool(cursor.take())
    return HistoricalRequest(
        req_id, contract, end, bar_size, duration, use_rth, what_to_show, format_date, keep_up_to_date
    )


@dataclass(frozen=True, slots=True)
class ExecutionFilter:
    """reqExecutions (id 7): the request id and its filter; empty/0 fields do not filter."""

    req_id: int
    client_id: int
    account: str
    time: str
    symbol: str
    sec_type: str
    exchange: str
    side: str


def parse_executions(fields: list[str]) -> ExecutionFilter:
    """Parse reqExecutions: `7, 3, reqId, clientId, acctCode, time, symbol, secType, exchange, side`."""
    padded = [*fields, *[""] * max(0, 10 - len(fields))]
    return ExecutionFilter(to_int(padded[2]), to_int(padded[3]), *padded[4:10])
