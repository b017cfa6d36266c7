"""The simulated broker's durable state: a JSON snapshot plus an append-only journal of changes.

Saving the WHOLE state after every broker call (temp file + fsync + rename) cost more as history
grew (80 ms -> 300 ms per 20-order batch). Here each call appends ONE line to `<state>.log`
holding only what the call changed, written to the kernel before the call returns; so a kill -9 at
any point loses nothing the "broker" accepted, and the cost no longer depends on the history.

Durability: what this persistence stands in for is a broker that is its own system, whose state
outlives the EXECUTOR PROCESS (kill -9 crash tests, restarts). A kill -9 never loses data already
handed to the kernel by write(), so write without fsync keeps that guarantee. Only a power loss or
kernel crash could lose the last lines, and power-loss durability of the SIMULATED broker is not a
requirement (the executor's own journal, and the cloud's database, stay fsync'd). So `fsync` is off
by default (an fdatasync per broker call cost ~0.9 ms, ~35% of placing a 20-order batch); pass
`fsync=True` to make each line and each snapshot (file and rename) survive a power loss too.

- What changed is found without dumping everything: new orders, fills and completions are the
  tails of the exchange's append-only collections; the other orders that may have changed are
  the ones the caller names (`record(..., changed=...)`: the durable broker passes the orders the
  broker reported on, see `entrypoints.executor.sim`), or else every open order of the symbols the
  call touched (plus the symbols of its fills and completions). Each is compared by a fingerprint
  of its mutable fields (by identity: exact) and written if it differs, as a row (`order_row`:
  the values of `dump_order` without the names, half the cost; `replay` still reads the dicts
  that journals written before rows hold). Brackets, positions, prices and the book of those
  symbols, and the head (time, cash, id counters), are written when they differ. A book is
  written whole the first time it changes in a journal, then as its change (`wr`: refs removed,
  `wa`: refs appended), so a line does not grow with the orders working.
- The snapshot `<state>` is `SimulatedBroker.state_dict()` as JSON (the same file as before, so
  tools that read it keep working) plus `"journal": {"id", "offset"}`: the journal it continues.
  Each order's and fill's encoded form is kept and reused by the next snapshot while the order
  stays the same (`_Encoded`): a snapshot encodes what changed since the last one.
  Compaction (at start, at a clean stop, when the journal passes `compact_bytes`) writes a fresh
  snapshot atomically, then starts a new journal with a new id. `refresh` (every second or so
  from the simulated market) rewrites the snapshot as of the journal's current end, without
  truncating, so readers of the file see recent prices.
- Restore: the snapshot, then the journal's lines after `offset` (all of them when the journal's
  id is not the snapshot's, i.e. the journal was started after it, or the crash came between the
  two steps of a compaction). Replay is idempotent (orders, brackets and fills by key, the rest
  last-write-wins; a book's changes follow the whole book written earlier in the same journal),
  so replaying lines the snapshot already holds changes nothing. A torn last line (killed
  mid-write: that call never returned) is ignored.
"""

from __future__ import annotations

import itertools
import json
import operator
import os
import secrets
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import msgspec

from adapters.simulated import SimulatedBroker
from adapters.simulated.book import SimBracket, SimOrder
from adapters.simulated.state import (  # the snapshot's own forms, per item
    dump_bracket,
    dump_fill,
    dump_order,
    dump_position,
    dump_state,
    order_from_row,
    order_row,
)
from core.broker_events import Fill
from core.order_status import OrderStatus
from core.position import Position
from core.values import OrderRef

_encoder = msgspec.json.Encoder()
COMPACT_BYTES = 4 << 20


def write_atomically(path: Path, data: bytes, fsync: bool = True) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new file, whole
    (a crash of the process always; a power loss too only with `fsync`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(temporary, "wb") as handle:
        handle.write(data)
        handle.flush()
        if fsync:
            os.fsync(handle.fileno())
    os.replace(temporary, path)
    if not fsync:
        return
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself must survive a power loss too
    finally:
        os.close(directory)


# A status as its text: one object per status, like the member, but a tuple holding only atomic
# values is left alone by the cyclic garbage collector (there is one fingerprint per order ever placed).
_STATUS = {status: status.value for status in OrderStatus}


def _fingerprint(order: SimOrder) -> tuple[object, ...]:
    """An order's mutable fields, compared by identity (`_same`): each is an immutable value (Decimal,
    str, int, bool), so a change is always a new object, and equal-looking values are still caught
    (Decimal("5") == Decimal("5.0"), but their JSON texts differ)."""
    return (_STATUS[order.status], order.quantity, order.filled, order.avg_price, order.notional,
            order.commission, order.triggered, order.message, order.code)


def _same(before: tuple[object, ...] | None, now: tuple[object, ...]) -> bool:
    return before is not None and all(map(operator.is_, before, now))


def _bracket_mark(bracket: SimBracket) -> tuple[object, ...]:
    return (bracket.take_profit, bracket.stop_loss, bracket.exit_filled)


def _position_mark(position: Position) -> tuple[object, ...]:
    return (position.quantity, position.cost_basis, position.realized_pnl, position.commissions)


def _tail(collection: dict[Any, Any], count: int) -> list[Any]:
    """The last `count` keys of a dict (insertion-ordered), in order."""
    return list(itertools.islice(reversed(collection), count))[::-1] if count > 0 else []


def _book_change(before: tuple[str, ...], now: tuple[str, ...]) -> tuple[list[str], list[str]] | None:
    """`now` as (refs removed from `before`, refs appended after the rest), or None if it is not
    that (then the whole book is written). A book only ever loses orders and appends new ones."""
    size = len(before)
    if now[:size] == before:
        return [], list(now[size:])
    gone = set(before).difference(now)
    kept = tuple(ref for ref in before if ref not in gone)
    if now[: len(kept)] != kept:
        return None
    return [ref for ref in before if ref in gone], list(now[len(kept) :])


class _Encoded:
    """Each order's and fill's snapshot form, encoded once and reused while it stays the same, so
    a snapshot (every second or so while the broker is busy) encodes only what changed since the
    last one. (Not filled by the journal lines: encoding each form apart costs the broker calls
    more than it saves the snapshots.) Every order is still checked against what it is now (the
    same order object, with the same request and fingerprint, by identity; its broker id is given
    when it is made), and every fill by identity: a snapshot is always the broker as it is."""

    def __init__(self) -> None:
        self._orders: dict[OrderRef, tuple[tuple[object, ...], msgspec.Raw]] = {}
        self._fills: dict[str, tuple[Fill, msgspec.Raw]] = {}

    def order(self, order: SimOrder) -> msgspec.Raw:
        mark = (order, order.request, *_fingerprint(order))
        known = self._orders.get(order.ref)
        if known is not None and _same(known[0], mark):
            return known[1]
        encoded = msgspec.Raw(_encoder.encode(dump_order(order)))
        self._orders[order.ref] = (mark, encoded)
        return encoded

    def fill(self, fill: Fill) -> msgspec.Raw:
        known = self._fills.get(fill.exec_id)
        if known is not None and known[0] is fill:
            return known[1]
        encoded = msgspec.Raw(_encoder.encode(dump_fill(fill)))
        self._fills[fill.exec_id] = (fill, encoded)
        return encoded


class _Tracker:
    """What was last written, to find what a call changed."""

    def __init__(self, broker: SimulatedBroker) -> None:
        exchange = broker.exchange
        self.orders = len(exchange.orders)
        self.completed = len(exchange.completed)
        self.fills = len(exchange.fills)
        self.prints = {ref: _fingerprint(order) for ref, order in exchange.orders.items()}
        self.open: dict[str, set[OrderRef]] = {}
        for ref, order in exchange.open.items():
            self.open.setdefault(order.symbol, set()).add(ref)
        self.prices = dict(exchange.prices)  # the values last written, compared by identity
        self.working = {symbol: tuple(book) for symbol, book in exchange.working.items() if book}
        self.positions: dict[str, tuple[object, ...] | None] = {
            symbol: _position_mark(position) for symbol, position in broker.ledger.positions_by_symbol.items()
        }
        self.brackets: dict[OrderRef, tuple[object, ...]] = {}
        for order in exchange.orders.values():
            if order.bracket is not None:
                self.brackets[order.bracket.entry.ref] = _bracket_mark(order.bracket)
        # Symbols whose whole book this journal holds: a book is written whole the first time it
        # changes in a journal, as changes after that (see `changes`).
        self.books: set[str] = set()
        self.encoded = _Encoded()  # the forms the snapshots wrote

    def changes(
        self, broker: SimulatedBroker, symbols: Iterable[str] | None, changed: Iterable[OrderRef] | None
    ) -> dict[str, Any]:
        """The journal line of what changed since the last call (see `StateJournal.record`)."""
        exchange, ledger = broker.exchange, broker.ledger
        all_orders, done = exchange.orders, exchange.completed
        new_refs = _tail(all_orders, len(all_orders) - self.orders)
        completed = _tail(done, len(done) - self.completed)
        fills = exchange.fills[self.fills :]
        self.orders, self.completed = len(all_orders), len(done)
        self.fills = len(exchange.fills)
        candidates: list[OrderRef]
        if symbols is None:
            touched = {*self.open, *exchange.prices, *ledger.positions_by_symbol, *self.working,
                       *exchange.working}
            candidates = list(all_orders)
        elif changed is None:
            touched = set(symbols)
            touched.update(all_orders[ref].symbol for ref in itertools.chain(new_refs, completed))
            touched.update(fill.symbol for fill in fills)
            candidates = [*new_refs, *completed]
            for symbol in touched:
                candidates.extend(self.open.get(symbol, ()))
        else:
            touched = set(symbols)  # and, below, the symbol of every order that changed
            touched.update(fill.symbol for fill in fills)
            candidates = [*new_refs, *completed, *changed]
        line: dict[str, Any] = {
            "h": {"time": broker.clock.now().isoformat(), "cash": str(ledger.cash),
                  "next_order_id": exchange.next_order_id, "next_exec_id": exchange.next_exec_id},
        }
        orders, brackets = [], []
        prints, still_open, open_by_symbol = self.prints, exchange.open, self.open
        seen: set[SimBracket] = set()
        for ref in dict.fromkeys(candidates):  # new orders first, in order; each once
            order = all_orders.get(ref)
            if order is None:
                continue  # a report about an order this broker does not hold
            mark = _fingerprint(order)
            if _same(prints.get(ref), mark):
                continue  # unchanged, so still as open (or not) as when it was last written
            prints[ref] = mark
            symbol = order.symbol
            touched.add(symbol)  # its book may have changed with it
            known = open_by_symbol.get(symbol)
            if ref in still_open:
                if known is None:
                    open_by_symbol[symbol] = {ref}
                else:
                    known.add(ref)
            elif known is not None:
                known.discard(ref)
            orders.append(order_row(order))
            bracket = order.bracket
            if bracket is not None and bracket not in seen:
                seen.add(bracket)
                bracket_mark = _bracket_mark(bracket)
                if not _same(self.brackets.get(bracket.entry.ref), bracket_mark):
                    self.brackets[bracket.entry.ref] = bracket_mark
                    brackets.append(dump_bracket(bracket))
        if orders:
            line["o"] = orders
        if brackets:
            line["b"] = brackets
        if fills:
            line["f"] = [dump_fill(fill) for fill in fills]
        if completed:
            line["c"] = completed
        for symbol in touched:
            held = ledger.positions_by_symbol.get(symbol)
            position_mark = None if held is None else _position_mark(held)
            before = self.positions.get(symbol)
            if before is not None if position_mark is None else not _same(before, position_mark):
                self.positions[symbol] = position_mark
                line.setdefault("p", {})[symbol] = None if held is None else dump_position(held)
            price = exchange.prices.get(symbol)
            if price is not None and price is not self.prices.get(symbol):
                self.prices[symbol] = price
                line.setdefault("x", {})[symbol] = str(price)
            book = exchange.working.get(symbol)
            now = tuple(book) if book else ()
            was = self.working.get(symbol, ())
            if now == was:
                continue
            self.working[symbol] = now
            change = _book_change(was, now) if symbol in self.books else None
            if change is None:
                self.books.add(symbol)
                line.setdefault("w", {})[symbol] = list(now)
                continue
            removed, appended = change
            if removed:
                line.setdefault("wr", {})[symbol] = removed
            if appended:
                line.setdefault("wa", {})[symbol] = appended
        return line


def replay(state: dict[str, Any], lines: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The snapshot `state` with the journal `lines` applied (idempotently), in state_dict form."""
    orders = {order["order_ref"]: order for order in state["orders"]}
    brackets = {bracket["entry"]: bracket for bracket in state["brackets"]}
    fills = {fill["exec_id"]: fill for fill in state["fills"]}
    completed = dict.fromkeys(state["completed"])
    positions, prices, working = dict(state["positions"]), dict(state["prices"]), dict(state["working"])
    for line in lines:
        state.update(line.get("h", {}))
        for order in line.get("o", ()):
            if not isinstance(order, dict):  # a row; journals written before rows hold dicts
                order = order_from_row(order)
            orders[order["order_ref"]] = order
        brackets.update((bracket["entry"], bracket) for bracket in line.get("b", ()))
        fills.update((fill["exec_id"], fill) for fill in line.get("f", ()))
        completed.update(dict.fromkeys(line.get("c", ())))
        for symbol, position in line.get("p", {}).items():
            if position is None:
                positions.pop(symbol, None)
            else:
                positions[symbol] = position
        prices.update(line.get("x", {}))
        for symbol, refs in line.get("w", {}).items():
            if refs:
                working[symbol] = refs
            else:
                working.pop(symbol, None)
        for symbol, refs in line.get("wr", {}).items():
            gone = set(refs)
            working[symbol] = [ref for ref in working.get(symbol, ()) if ref not in gone]
        for symbol, refs in line.get("wa", {}).items():
            working[symbol] = [*working.get(symbol, ()), *refs]
        for symbol in line.get("wr", {}):
            if not working.get(symbol):
                working.pop(symbol, None)
    index = {ref: number for number, ref in enumerate(orders)}
    state.update(
        orders=list(orders.values()),
        brackets=sorted(brackets.values(), key=lambda bracket: index[bracket["entry"]]),
        fills=list(fills.values()), completed=list(completed), positions=positions, prices=prices,
        working=working,
    )
    state.pop("journal", None)
    return state


class StateJournal:
    """The snapshot at `path` and the journal at `<path>.log` (see the module docstring)."""

    def __init__(self, path: Path, compact_bytes: int = COMPACT_BYTES, fsync: bool = False) -> None:
        self.path = path
        self._fsync = fsync  # power-loss durability too (see the module docstring)
        self.log_path = path.with_name(f"{path.name}.log")
        self._compact_bytes = compact_bytes
        self._tracker: _Tracker | None = None
        self._log: int | None = None  # the journal's file descriptor
        self._id = ""
        self._size = 0
        self._refreshed_at = 0  # journal size at the last snapshot

    def load(self) -> dict[str, Any] | None:
        """The saved state (snapshot + journal) in `state_dict()` form, or None if there is none."""
        try:
            state: dict[str, Any] = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        continues = state.get("journal") or {}
        try:
            raw = self.log_path.read_bytes()
        except FileNotFoundError:
            return replay(state, ())
        header, _, body = raw.partition(b"\n")
        journal_id = json.loads(header).get("journal") if header else None
        start = int(continues.get("offset", 0)) - len(header) - 1 if journal_id == continues.get("id") else 0
        chunks = body[max(0, start):].split(b"\n")
        lines = []
        for number, chunk in enumerate(chunks):
            if not chunk:
                continue
            try:
                lines.append(json.loads(chunk))
            except ValueError:
                if number == len(chunks) - 1:
                    break  # torn by a kill mid-write: that call never returned
                raise ValueError(
                    f"the simulated broker's journal {self.log_path} is damaged at line {number + 2}; "
                    f"move it and {self.path} away to start the simulated broker afresh"
                ) from None
        return replay(state, lines)

    def start(self, broker: SimulatedBroker) -> None:
        """Track `broker` (as restored) and compact: a fresh snapshot and an empty journal."""
        self._tracker = _Tracker(broker)
        self.compact(broker)

    def record(
        self, broker: SimulatedBroker, symbols: Iterable[str] | None = None,
        changed: Iterable[OrderRef] | None = None,
    ) -> None:
        """Append what changed (for the calls on `symbols`; None: anything): once this returns, it
        survives a kill -9 (and a power loss with `fsync`).

        `changed`, when the caller knows it, holds every order that may have changed since the last
        record other than new and completed ones (e.g. the orders the broker reported on): only
        those are compared. None compares every open order of `symbols` (and of the orders that
        are new or completed)."""
        if self._tracker is None or self._log is None:
            self.start(broker)
            return
        try:
            data = _encoder.encode(self._tracker.changes(broker, symbols, changed)) + b"\n"
            written = os.write(self._log, data)
            while written < len(data):  # a short write (rare for regular files) must not tear the line
                written += os.write(self._log, data[written:])
            if self._fsync:
                os.fdatasync(self._log)
        except BaseException:
            # The tracker counts this line written, yet it may be missing or torn (a full disk):
            # the next record starts afresh, with a snapshot of everything and a new journal.
            self._tracker = None
            raise
        self._size += len(data)
        if self._size >= self._compact_bytes:
            self.compact(broker)

    def compact(self, broker: SimulatedBroker) -> None:
        """A fresh snapshot, then a new empty journal (see the module docstring for a crash between)."""
        self._id = secrets.token_hex(8)
        header = _encoder.encode({"journal": self._id}) + b"\n"
        self._write_snapshot(broker, len(header))
        write_atomically(self.log_path, header, self._fsync)
        if self._log is not None:
            os.close(self._log)
        self._log = os.open(self.log_path, os.O_WRONLY | os.O_APPEND)
        self._size = self._refreshed_at = len(header)
        if self._tracker is not None:
            self._tracker.books.clear()  # the new journal writes each book whole first

    def refresh(self, broker: SimulatedBroker) -> None:
        """Rewrite the snapshot as of now if anything was journaled since the last one."""
        if self._log is not None and self._size != self._refreshed_at:
            self._write_snapshot(broker, self._size)
            self._refreshed_at = self._size

    def close(self, broker: SimulatedBroker) -> None:
        """Compact (readers of the snapshot see the final state) and close the journal."""
        if self._log is not None:
            self.compact(broker)
            os.close(self._log)
            self._log = None
            self._tracker = None

    def _write_snapshot(self, broker: SimulatedBroker, offset: int) -> None:
        encoded = self._tracker.encoded if self._tracker is not None else _Encoded()
        state = dump_state(broker, encoded.order, encoded.fill)  # `broker.state_dict()`, faster
        state["journal"] = {"id": self._id, "offset": offset}
        write_atomically(self.path, _encoder.encode(state), self._fsync)
