"""An approved batch: frozen bracket orders with one deterministic key per leg and a content hash.

Every leg's key (`leg_ref`) is sent to IB as `orderRef`, so after a restart the executor can ask
the broker what it already holds and place only what is missing. IB keeps `orderRef` short, so
the key is bounded: "tb:" + batch id (<= 16) + ":" + symbol (<= 12) + ":" + E/TP/SL is at most
35 characters. The content hash covers every field of the batch, so a batch resent after a
reconnect can be recognised as the very same one.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from json.encoder import encode_basestring_ascii
from typing import Any

from core.orders import BracketRequest, OrderRequest
from core.scans import SYMBOL_PATTERN
from core.values import BatchId, OrderRef, OrderType, Side, TimeInForce, become, writable_twin

BATCH_ID_PATTERN = re.compile(r"[A-Za-z0-9-]{1,16}")
REF_PREFIX = "tb"
MAX_REF_LENGTH = 40


class PlanError(ValueError):
    """A plan or batch that cannot be made as asked; `problems` lists every reason, each saying
    what to change."""

    def __init__(self, problems: str | Sequence[str]) -> None:
        self.problems = (problems,) if isinstance(problems, str) else tuple(problems)
        super().__init__("; ".join(self.problems))


class Leg(StrEnum):
    """The three orders of a bracket."""

    ENTRY = "entry"
    TAKE_PROFIT = "take_profit"
    STOP_LOSS = "stop_loss"

    @property
    def code(self) -> str:
        """The short form used inside order refs."""
        return _CODES[self]


_CODES = {Leg.ENTRY: "E", Leg.TAKE_PROFIT: "TP", Leg.STOP_LOSS: "SL"}
_LEGS_BY_CODE = {code: leg for leg, code in _CODES.items()}
_ENTRY_CODE, _TAKE_PROFIT_CODE, _STOP_LOSS_CODE = (_CODES[leg] for leg in Leg)


def check_batch_id(batch_id: str) -> BatchId:
    """The batch id, or PlanError if it is not 1-16 characters of A-Z a-z 0-9 and '-'."""
    if not BATCH_ID_PATTERN.fullmatch(batch_id):
        raise PlanError(f"batch id {batch_id!r} must be 1 to 16 characters of A-Z, a-z, 0-9 or '-' "
                        f"(it becomes part of every IB orderRef, which must stay short)")
    return BatchId(batch_id)


def leg_ref(batch_id: str, symbol: str, leg: Leg | str) -> OrderRef:
    """The deterministic key of one leg: "tb:<batch_id>:<SYMBOL>:E" (or ":TP", ":SL")."""
    check_batch_id(batch_id)
    _check_symbol(symbol)
    try:
        code = Leg(leg).code
    except ValueError:
        raise PlanError(f"leg {leg!r} must be one of {', '.join(Leg)}") from None
    return OrderRef(f"{REF_PREFIX}:{batch_id}:{symbol}:{code}")


def leg_refs(batch_id: str, symbol: str) -> tuple[OrderRef, OrderRef, OrderRef]:
    """The keys of a bracket's three legs (entry, take profit, stop loss), as `leg_ref` makes
    them; PlanError for a bad batch id or symbol."""
    check_batch_id(batch_id)
    _check_symbol(symbol)
    return unchecked_leg_refs(batch_id, symbol)


def _check_symbol(symbol: str) -> None:
    if not SYMBOL_PATTERN.fullmatch(symbol):
        raise PlanError(f"symbol {symbol!r} must be 1 to 12 characters of A-Z, 0-9, '.', '-' or space")


def unchecked_leg_refs(batch_id: str, symbol: str) -> tuple[OrderRef, OrderRef, OrderRef]:
    """`leg_refs` without its checks, for a batch id and symbol checked once elsewhere (an
    ApprovedBatch checks its id, every symbol, and every line's keys against both)."""
    base = f"{REF_PREFIX}:{batch_id}:{symbol}:"
    return (
        OrderRef(base + _ENTRY_CODE), OrderRef(base + _TAKE_PROFIT_CODE), OrderRef(base + _STOP_LOSS_CODE)
    )


def parse_leg_ref(ref: str) -> tuple[BatchId, str, Leg]:
    """(batch id, symbol, leg) of a key made by `leg_ref`; PlanError for any other order ref
    (an order placed by hand, or by another program)."""
    parts = ref.split(":")
    if len(parts) == 4 and parts[0] == REF_PREFIX and parts[3] in _LEGS_BY_CODE:
        batch_id, symbol = parts[1], parts[2]
        if BATCH_ID_PATTERN.fullmatch(batch_id) and SYMBOL_PATTERN.fullmatch(symbol):
            return BatchId(batch_id), symbol, _LEGS_BY_CODE[parts[3]]
    raise PlanError(f"order ref {ref!r} is not a tradebridge leg key (tb:<batch id>:<SYMBOL>:E|TP|SL)")


class _CanonicalSlot:
    # One slot that is not a dataclass field (not compared, not in repr, not passed by `replace`):
    # the line's part of its batch's canonical text, kept once made (see `_line_parts`).
    __slots__ = ("_canonical",)


@dataclass(frozen=True, slots=True)
class ApprovedLine(_CanonicalSlot):
    """One approved bracket of a batch: what to trade, where the exits are, and its three keys."""

    symbol: str
    side: Side
    quantity: Decimal
    entry_price: Decimal  # the scan's current price: the reference for the market entry
    stop_loss: Decimal
    take_profit: Decimal
    target_date: date | None
    strategy: str
    win_rate: Decimal | None
    adx: Decimal | None
    entry_ref: OrderRef
    take_profit_ref: OrderRef
    stop_loss_ref: OrderRef
    order_type: OrderType = OrderType.MARKET

    def __init__(
        self,
        symbol: str,
        side: Side,
        quantity: Decimal,
        entry_price: Decimal,
        stop_loss: Decimal,
        take_profit: Decimal,
        target_date: date | None,
        strategy: str,
        win_rate: Decimal | None,
        adx: Decimal | None,
        entry_ref: OrderRef,
        take_profit_ref: OrderRef,
        stop_loss_ref: OrderRef,
        order_type: OrderType = OrderType.MARKET,
    ) -> None:
        # Written by hand, not generated: every placement makes one per line, and the fields are
        # plain slot writes this way (see `writable_twin`). The batch checks the lines.
        writable: Any = self
        become(writable, _WritableApprovedLine)
        writable.symbol = symbol
        writable.side = side
        writable.quantity = quantity
        writable.entry_price = entry_price
        writable.stop_loss = stop_loss
        writable.take_profit = take_profit
        writable.target_date = target_date
        writable.strategy = strategy
        writable.win_rate = win_rate
        writable.adx = adx
        writable.entry_ref = entry_ref
        writable.take_profit_ref = take_profit_ref
        writable.stop_loss_ref = stop_loss_ref
        writable.order_type = order_type
        writable._canonical = None
        writable.__class__ = ApprovedLine

    @property
    def investment(self) -> Decimal:
        return self.quantity * self.entry_price

    @property
    def refs(self) -> tuple[OrderRef, OrderRef, OrderRef]:
        return (self.entry_ref, self.take_profit_ref, self.stop_loss_ref)

    @property
    def oca_group(self) -> str:
        """The exits' one-cancels-all group: the entry key without its leg code."""
        return self.entry_ref.rsplit(":", 1)[0]

    def bracket(self) -> BracketRequest:
        """Market entry (for the day) on the row's side; take profit (limit) and stop loss (stop)
        on the other side, children of the entry in one OCA group, good till cancelled."""
        exit_side = self.side.opposite
        entry = OrderRequest(self.entry_ref, self.symbol, self.side, self.quantity, self.order_type,
                             tif=TimeInForce.DAY)
        take_profit = OrderRequest(self.take_profit_ref, self.symbol, exit_side, self.quantity,
                                   OrderType.LIMIT, limit_price=self.take_profit, tif=TimeInForce.GTC,
                                   parent_ref=self.entry_ref, oca_group=self.oca_group)
        stop_loss = OrderRequest(self.stop_loss_ref, self.symbol, exit_side, self.quantity, OrderType.STOP,
                                 stop_price=self.stop_loss, tif=TimeInForce.GTC,
                                 parent_ref=self.entry_ref, oca_group=self.oca_group)
        return BracketRequest(entry, take_profit, stop_loss)


_WritableApprovedLine = writable_twin(
    ApprovedLine, "symbol", "side", "quantity", "entry_price", "stop_loss", "take_profit", "target_date",
    "strategy", "win_rate", "adx", "entry_ref", "take_profit_ref", "stop_loss_ref", "order_type",
)


@dataclass(frozen=True, slots=True)
class ApprovedBatch:
    """A frozen set of bracket orders from one scan, with an expiry: never placed after it."""

    batch_id: BatchId
    scan_id: int
    approved_at: datetime
    expires_at: datetime
    legs: tuple[ApprovedLine, ...]  # one per line, each with its three leg keys
    # Computed once, on creation: placing a batch needs its hash twice (the payload and the row),
    # and every field it covers is frozen.
    _content_hash: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        check_batch_id(self.batch_id)
        problems: list[str] = []
        if self.approved_at.tzinfo is None or self.expires_at.tzinfo is None:
            problems.append("approved_at and expires_at must be timezone-aware (use the Clock port)")
        elif self.expires_at <= self.approved_at:
            problems.append(f"expires_at {self.expires_at} must be after approved_at {self.approved_at}")
        if not self.legs:
            problems.append(f"batch {self.batch_id} has no orders")
        symbols = [line.symbol for line in self.legs]
        if len(set(symbols)) != len(symbols):
            problems += [f"{s} appears more than once" for s in sorted(set(symbols)) if symbols.count(s) > 1]
        for line in self.legs:
            _check_symbol(line.symbol)
            expected = unchecked_leg_refs(self.batch_id, line.symbol)
            if line.refs != expected:
                problems.append(f"{line.symbol}: leg keys {line.refs} must be {expected}")
        if problems:
            raise PlanError(problems)
        text = _canonical_text(self)
        if text is None:  # a field of a type only the general encoder writes
            text = _canonical_json(self.canonical())
        object.__setattr__(self, "_content_hash", hashlib.sha256(text.encode("ascii")).hexdigest())

    @property
    def content_hash(self) -> str:
        """sha256 (hex) of the canonical JSON of the batch: same content, same hash, on any run."""
        return self._content_hash

    def canonical(self) -> dict[str, object]:
        """Every field as plain JSON values: Decimals normalised ("100.0" and "100" are one value),
        times in UTC, orders sorted by symbol."""
        orders = [
            {
                "symbol": line.symbol, "side": line.side.value, "quantity": _num(line.quantity),
                "order_type": line.order_type.value, "entry_price": _num(line.entry_price),
                "stop_loss": _num(line.stop_loss), "take_profit": _num(line.take_profit),
                "target_date": line.target_date.isoformat() if line.target_date else None,
                "strategy": line.strategy, "win_rate": _num(line.win_rate), "adx": _num(line.adx),
                "refs": list(line.refs),
            }
            for line in sorted(self.legs, key=lambda line: line.symbol)
        ]
        return {
            "batch_id": self.batch_id, "scan_id": self.scan_id, "orders": orders,
            "approved_at": self.approved_at.astimezone(UTC).isoformat(),
            "expires_at": self.expires_at.astimezone(UTC).isoformat(),
        }

    def brackets(self) -> tuple[BracketRequest, ...]:
        """The batch as bracket requests, one per line, in batch order."""
        return tuple(line.bracket() for line in self.legs)

    def is_expired(self, now: datetime) -> bool:
        """Whether the batch may no longer be placed: stale orders are never sent."""
        return now >= self.expires_at


def _canonical_json(canonical: dict[str, object]) -> str:
    """The text the content hash is taken of."""
    return json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def _canonical_text(batch: ApprovedBatch) -> str | None:
    """`_canonical_json(batch.canonical())`, written directly: every placement hashes its batch,
    and the general encoder (dicts built, then sorted and walked) costs twice as much. None when a
    field has a type other than those written here; the general encoder writes it then.

    The keys are written in sorted order. Only a checked batch gets here: its id, symbols and leg
    keys are ASCII without quotes or backslashes, so they go in as they are; other text is
    escaped as json.dumps(ensure_ascii=True) escapes it. Tests compare both ways on many batches."""
    if type(batch.scan_id) is not int:  # bool, IntEnum ... : json.dumps has its own spelling
        return None
    orders = []
    for line in sorted(batch.legs, key=_symbol_of):
        parts = _line_parts(line)
        if parts is None:
            return None
        orders.append(
            f'{parts.head}"{line.entry_ref}","{line.take_profit_ref}","{line.stop_loss_ref}"{parts.tail}'
        )
    return (
        f'{{"approved_at":{_escape(batch.approved_at.astimezone(UTC).isoformat())},'
        f'"batch_id":"{batch.batch_id}",'
        f'"expires_at":{_escape(batch.expires_at.astimezone(UTC).isoformat())},'
        f'"orders":[{",".join(orders)}],"scan_id":{batch.scan_id}}}'
    )


@dataclass(frozen=True, slots=True)
class _LineParts:
    """A line's object in the canonical text, before and after its leg keys (which hold the batch
    id), and the values they were written from: every field but the keys, as those very objects."""

    values: tuple[object, ...]
    head: str
    tail: str


def _line_parts(line: ApprovedLine) -> _LineParts | None:
    # Made once per line and kept on it (its fields are frozen); None for a field of another type.
    parts: _LineParts | None = getattr(line, "_canonical", None)  # unset if made without __init__
    if parts is None:
        parts = _make_line_parts(line)
        if parts is not None:
            object.__setattr__(line, "_canonical", parts)
    return parts


def _make_line_parts(line: ApprovedLine) -> _LineParts | None:
    side, order_type, strategy, target_date = line.side, line.order_type, line.strategy, line.target_date
    if type(side) is not Side or type(order_type) is not OrderType or type(strategy) is not str:
        return None
    # The enums' values are fixed ASCII words ("BUY", "STP LMT"): no escaping.
    head = (
        f'{{"adx":{_num_text(line.adx)},"entry_price":{_num_text(line.entry_price)},'
        f'"order_type":"{order_type._value_}","quantity":{_num_text(line.quantity)},"refs":['
    )
    tail = (
        f'],"side":"{side._value_}","stop_loss":{_num_text(line.stop_loss)},'
        f'"strategy":{_escape(strategy)},"symbol":"{line.symbol}",'
        f'"take_profit":{_num_text(line.take_profit)},'
        f'"target_date":{_escape(target_date.isoformat()) if target_date else "null"},'
        f'"win_rate":{_num_text(line.win_rate)}}}'
    )
    return _LineParts(_values_of(line), head, tail)


def _values_of(line: ApprovedLine) -> tuple[object, ...]:
    return (
        line.symbol, line.side, line.quantity, line.entry_price, line.stop_loss, line.take_profit,
        line.target_date, line.strategy, line.win_rate, line.adx, line.order_type,
    )


def reuse_canonical_text(line: ApprovedLine, earlier: ApprovedLine) -> None:
    """Let `line` take its part of the canonical text (what the content hash is taken of) from
    `earlier`, a line of a batch already made, if every field that part is written from (all but
    the leg keys) holds the very same object in both: approving a plan again writes the same
    prices, sizes and texts under a new batch id. Nothing is compared by value (1 and 1.0, 0 and
    -0 are written differently), so a line that differs in any way makes its own."""
    parts: _LineParts | None = getattr(earlier, "_canonical", None)
    if parts is None:
        return
    if all(map(operator.is_, _values_of(line), parts.values)):
        object.__setattr__(line, "_canonical", parts)


_escape = encode_basestring_ascii  # what json.dumps(ensure_ascii=True) writes a str with


def _symbol_of(line: ApprovedLine) -> str:
    return line.symbol


def _num(value: Decimal | None) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def _num_text(value: Decimal | None) -> str:
    # `_num` as JSON: its digits, sign, point (or NaN, Infinity) need no escaping.
    return "null" if value is None else f'"{format(value.normalize(), "f")}"'
