"""How the SQLite journal stores what it keeps, and how durably (schema version 2).

- The cloud's acknowledgements are committed with synchronous=NORMAL (no fsync); every other
  transaction with FULL, also after an acknowledgement failed.
- A leg whose request is its batch's is written without it, and read back the same; a leg whose
  request differs (or whose batch is not journaled) keeps its own text.
- A batch's orders live in `batch_orders`: a change of state does not rewrite them.
- A step that only records what the broker said (legs SENT, their reports and fills, a batch
  PLACING/PLACED) commits with NORMAL and is fsynced in the background; every decision before or
  instead of a broker call (SENDING, SKIPPED, FAILED, a batch rejected or expired) with FULL.
- A version-1 file opens (upgraded in place) with every record as it was, and goes on working;
  a file from a newer version is refused.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.journal import SqliteJournal
from adapters.journal import sqlite_journal as module
from adapters.journal.codec import order_to_dict, order_to_json
from adapters.journal.schema import SCHEMA_VERSION
from core.broker_events import Fill
from core.journal import (
    BatchOrder,
    BatchState,
    JournaledBatch,
    JournalStep,
    LegRecord,
    LegRole,
    LegStatus,
    Placement,
    StatusReport,
    TradingStateRecord,
    needs_sync,
)
from core.values import BatchId, ExecId, OrderRef, OrderType, Side, TradingState
from tests.fakes.orders import bracket

T0 = datetime(2026, 5, 6, 14, 30, tzinfo=UTC)
FULL, NORMAL = "2", "1"


def _batch(batch_id: str = "B1", symbols: tuple[str, ...] = ("AAA", "BBB"), seq: int = 1) -> JournaledBatch:
    orders = tuple(BatchOrder(bracket(f"tb:{batch_id}:{s}:E", symbol=s, entry=100), Decimal("100.5"))
                   for s in symbols)
    return JournaledBatch(BatchId(batch_id), seq, f"hash-{batch_id}", orders, T0, T0 + timedelta(hours=24))


def _legs(batch: JournaledBatch) -> list[LegRecord]:
    roles = (LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS)
    return [LegRecord(leg.order_ref, batch.batch_id, order.bracket.entry.order_ref, role, leg)
            for order in batch.orders for leg, role in zip(order.bracket.legs, roles, strict=True)]


def _report(status_id: str, leg: LegRecord) -> StatusReport:
    return StatusReport(status_id, leg.batch_id, leg.order_ref, leg.request.symbol, leg.status, T0)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[SqliteJournal]:
    made = SqliteJournal(tmp_path / "j.sqlite")
    yield made
    made.close()


def _spy_on(monkeypatch: pytest.MonkeyPatch, name: str, journal: SqliteJournal, seen: list[str],
            fail: bool = False) -> None:
    """Record `PRAGMA synchronous` from inside the transaction, where the journal calls `name`."""
    target = getattr(module, name)

    class Spy:
        def write(self, db: sqlite3.Connection, params: Any) -> None:
            seen.append(journal.pragma("synchronous"))
            if fail:
                raise sqlite3.OperationalError("disk I/O error (injected)")
            target.write(db, params)

    def spy_function(*args: Any) -> None:
        seen.append(journal.pragma("synchronous"))
        target(*args)

    monkeypatch.setattr(module, name, Spy() if hasattr(target, "write") else spy_function)


def test_acknowledgements_commit_without_fsync_and_everything_else_with(
    journal: SqliteJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    _spy_on(monkeypatch, "ACKNOWLEDGE_POSITIONS", journal, seen)
    _spy_on(monkeypatch, "write_legs", journal, seen)
    batch = _batch()
    legs = _legs(batch)
    journal.record_batch(batch, legs, [_report(f"s{i}", leg) for i, leg in enumerate(legs)])
    assert journal.acknowledge_reports(["s0", "s1"]) == 2
    assert journal.pragma("synchronous") == FULL
    journal.commit(JournalStep(legs=(replace(legs[0], status=LegStatus.WORKING),),
                   batch_states=((batch.batch_id, BatchState.PLACING, ""),)))
    assert journal.acknowledge_report("s2") is True
    journal.commit(JournalStep(legs=(replace(legs[1], status=LegStatus.WORKING),)))
    # record_batch, ack, commit, ack (one report), commit: inside each transaction
    assert seen == [FULL, NORMAL, FULL, NORMAL, FULL]
    assert journal.pragma("synchronous") == FULL
    assert [r.status_id for r in journal.pending_reports()] == [f"s{i}" for i in range(3, len(legs))]


def test_a_failed_acknowledgement_writes_nothing_and_leaves_the_journal_at_full(
    tmp_path: Path, journal: SqliteJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _batch()
    legs = _legs(batch)
    journal.record_batch(batch, legs, [_report(f"s{i}", leg) for i, leg in enumerate(legs)])
    seen: list[str] = []
    _spy_on(monkeypatch, "ACKNOWLEDGE_POSITIONS", journal, seen, fail=True)
    with pytest.raises(sqlite3.OperationalError, match="injected"):
        journal.acknowledge_reports(["s0", "s1"])
    with pytest.raises(sqlite3.OperationalError, match="injected"):
        journal.acknowledge_report("s0")
    assert seen == [NORMAL, NORMAL]
    assert journal.pragma("synchronous") == FULL
    assert len(journal.pending_reports()) == len(legs)
    again = SqliteJournal(tmp_path / "j.sqlite")
    assert len(again.pending_reports()) == len(legs)
    again.close()


def _request_column(journal: SqliteJournal) -> dict[str, str]:
    return dict(journal._conn.execute("SELECT order_ref, request FROM legs"))


def test_a_leg_is_stored_without_the_request_its_batch_holds(tmp_path: Path, journal: SqliteJournal) -> None:
    batch = _batch()
    legs = _legs(batch)
    journal.record_batch(batch, legs, [])
    assert set(_request_column(journal).values()) == {""}
    other = replace(legs[1].request, quantity=Decimal(7))  # e.g. an exit resized
    loose = LegRecord(OrderRef("tb:B9:ZZZ:E"), BatchId("B9"), OrderRef("tb:B9:ZZZ:E"), LegRole.ENTRY,
                      bracket("tb:B9:ZZZ:E").entry)  # its batch is not journaled
    journal.commit(JournalStep(legs=(replace(legs[1], request=other), loose,
                                     replace(legs[2], status=LegStatus.WORKING))))
    stored = _request_column(journal)
    assert stored[legs[1].order_ref] == order_to_json(other)
    assert stored[loose.order_ref] == order_to_json(loose.request)
    assert stored[legs[2].order_ref] == ""
    journal.commit(JournalStep(legs=(legs[1],)))  # back to its batch's request
    assert _request_column(journal)[legs[1].order_ref] == ""
    expected = (legs[0], legs[1], replace(legs[2], status=LegStatus.WORKING), *legs[3:], loose)
    assert journal.legs() == expected
    again = SqliteJournal(tmp_path / "j.sqlite")  # read back from the file alone
    assert again.legs() == expected
    assert again.batch(batch.batch_id) == batch
    again.close()


def test_a_change_of_state_leaves_the_batch_orders_untouched(journal: SqliteJournal) -> None:
    batch = _batch(symbols=tuple(f"S{n:02d}" for n in range(20)))
    journal.record_batch(batch, _legs(batch), [])
    db = journal._conn
    pages = "SELECT name, COUNT(*) FROM dbstat WHERE name IN ('batches', 'batch_orders') GROUP BY name"
    assert dict(db.execute(pages))["batch_orders"] >= 2  # 20 brackets spill over a page
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    journal.commit(JournalStep(batch_states=((batch.batch_id, BatchState.PLACED, ""),)))
    owners = dict(db.execute("SELECT pageno, name FROM dbstat"))
    wal = (Path(journal.path + "-wal")).read_bytes()
    size = int.from_bytes(wal[8:12], "big")
    written = {int.from_bytes(wal[at:at + 4], "big") for at in range(32, len(wal), size + 24)}
    assert "batch_orders" not in {owners.get(page) for page in written}
    assert journal.batch(batch.batch_id) == replace(batch, state=BatchState.PLACED)


_PRICES = st.decimals(min_value=Decimal(2), max_value=Decimal(10**6), places=4, allow_nan=False,
                      allow_infinity=False)
_GAPS = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(1), places=4, allow_nan=False,
                    allow_infinity=False)


@settings(max_examples=40, deadline=None)
@given(
    quantities=st.lists(st.integers(1, 10**6), min_size=1, max_size=5),
    entry=_PRICES, gaps=st.tuples(_GAPS, _GAPS), side=st.sampled_from(Side),
    entry_type=st.sampled_from([OrderType.MARKET, OrderType.LIMIT, OrderType.STOP]),
)
def test_batch_orders_and_legs_read_back_exactly(
    tmp_path_factory: pytest.TempPathFactory, quantities: list[int], entry: Decimal,
    gaps: tuple[Decimal, Decimal], side: Side, entry_type: OrderType,
) -> None:
    up, down = (entry + gaps[0], entry - gaps[1]) if side is Side.BUY else (entry - gaps[0], entry + gaps[1])
    orders = tuple(
        BatchOrder(bracket(f"tb:B1:S{n}:E", side, str(q), entry_type, str(entry), str(up), str(down),
                           symbol=f"S{n}"), entry)
        for n, q in enumerate(quantities)
    )
    batch = JournaledBatch(BatchId("B1"), 1, "h", orders, T0, T0 + timedelta(hours=1))
    path = tmp_path_factory.mktemp("j") / "j.sqlite"
    journal = SqliteJournal(path)
    journal.record_batch(batch, _legs(batch), [])
    journal.close()
    again = SqliteJournal(path)
    assert again.batch(batch.batch_id) == batch
    assert again.legs() == tuple(_legs(batch))
    again.close()


# -- version 1 files ------------------------------------------------------------------------------

_V1_SCHEMA = """
CREATE TABLE batches (position INTEGER PRIMARY KEY AUTOINCREMENT, batch_id TEXT NOT NULL UNIQUE,
    seq INTEGER, content_hash TEXT NOT NULL, orders TEXT NOT NULL, received_at TEXT NOT NULL,
    expires_at TEXT NOT NULL, state TEXT NOT NULL, reason TEXT NOT NULL DEFAULT '');
CREATE TABLE legs (position INTEGER PRIMARY KEY AUTOINCREMENT, order_ref TEXT NOT NULL UNIQUE,
    batch_id TEXT NOT NULL, bracket_ref TEXT NOT NULL, role TEXT NOT NULL, request TEXT NOT NULL,
    placement TEXT NOT NULL, status TEXT NOT NULL, filled TEXT NOT NULL, avg_price TEXT NOT NULL,
    message TEXT NOT NULL DEFAULT '');
CREATE TABLE executions (position INTEGER PRIMARY KEY AUTOINCREMENT, exec_id TEXT NOT NULL UNIQUE,
    order_ref TEXT NOT NULL, symbol TEXT NOT NULL, side TEXT NOT NULL, quantity TEXT NOT NULL,
    price TEXT NOT NULL, time TEXT NOT NULL, commission TEXT NOT NULL);
CREATE TABLE reports (position INTEGER PRIMARY KEY AUTOINCREMENT, status_id TEXT NOT NULL UNIQUE,
    batch_id TEXT NOT NULL, order_ref TEXT NOT NULL, symbol TEXT NOT NULL, status TEXT NOT NULL,
    created_at TEXT NOT NULL, filled TEXT NOT NULL, avg_price TEXT NOT NULL, message TEXT NOT NULL,
    acked INTEGER NOT NULL DEFAULT 0);
CREATE INDEX reports_unacked ON reports (acked, position);
CREATE INDEX batches_by_state ON batches (state, position);
CREATE TABLE trading_state (id INTEGER PRIMARY KEY CHECK (id = 1), state TEXT NOT NULL,
    reason TEXT NOT NULL, changed_at TEXT);
PRAGMA user_version=1;
"""


def _v1_orders(batch: JournaledBatch) -> str:
    """A batch's orders as version 1 wrote them (objects, the json module's spaces)."""
    import json
    return json.dumps([{"reference_price": str(o.reference_price),
                        "legs": [order_to_dict(leg) for leg in o.bracket.legs]} for o in batch.orders])


def _write_v1(path: Path, batches: list[JournaledBatch], legs: list[LegRecord], reports: list[StatusReport],
              fills: list[Fill], state: TradingStateRecord) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.executescript(_V1_SCHEMA)
    for b in batches:
        db.execute("INSERT INTO batches (batch_id, seq, content_hash, orders, received_at, expires_at, "
                   "state, reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (b.batch_id, b.seq, b.content_hash, _v1_orders(b), b.received_at.isoformat(),
                    b.expires_at.isoformat(), b.state.value, b.reason))
    for leg in legs:
        db.execute("INSERT INTO legs (order_ref, batch_id, bracket_ref, role, request, placement, status, "
                   "filled, avg_price, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (leg.order_ref, leg.batch_id, leg.bracket_ref, leg.role.value, order_to_json(leg.request),
                    leg.placement.value, leg.status.value, str(leg.filled), str(leg.avg_price), leg.message))
    for r in reports:
        db.execute("INSERT INTO reports (status_id, batch_id, order_ref, symbol, status, created_at, filled, "
                   "avg_price, message, acked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                   (r.status_id, r.batch_id, r.order_ref, r.symbol, r.status.value, r.created_at.isoformat(),
                    str(r.filled), str(r.avg_price), r.message, int(r.acked)))
    for f in fills:
        db.execute("INSERT INTO executions (exec_id, order_ref, symbol, side, quantity, price, time, "
                   "commission) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   (f.exec_id, f.order_ref, f.symbol, f.side.value, str(f.quantity), str(f.price),
                    f.time.isoformat(), str(f.commission)))
    db.execute("INSERT INTO trading_state (id, state, reason, changed_at) VALUES (1, ?, ?, ?)",
               (state.state.value, state.reason, state.changed_at and state.changed_at.isoformat()))
    db.close()


def test_a_version_1_journal_opens_with_every_record_and_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    first, second = _batch("B1", seq=3), replace(_batch("B2", ("CCC",), seq=4), state=BatchState.PLACED)
    legs = _legs(first) + [replace(leg, placement=Placement.SENT, status=LegStatus.WORKING)
                           for leg in _legs(second)]
    reports = [_report("s1", legs[0]), replace(_report("s2", legs[1]), acked=True), _report("s3", legs[4])]
    fill = Fill(ExecId("e1"), legs[-3].order_ref, "CCC", Side.BUY, Decimal(10), Decimal("100.25"), T0,
                Decimal("1.5"))
    halted = TradingStateRecord(TradingState.HALTED, "panic", T0)
    _write_v1(path, [first, second], legs, reports, [fill], halted)

    journal = SqliteJournal(path)
    assert journal.pragma("user_version") == str(SCHEMA_VERSION)
    assert journal.pragma("integrity_check") == "ok"
    columns = {row[1] for row in journal._conn.execute("PRAGMA table_info(batches)")}
    assert "orders" not in columns  # moved to batch_orders
    assert journal._conn.execute("SELECT COUNT(*) FROM batch_orders").fetchone()[0] == 2

    def check(j: SqliteJournal) -> None:
        assert j.batches() == (first, second)
        assert j.batches((BatchState.PLACED,)) == (second,)
        assert j.legs()[: len(legs)] == tuple(legs)
        assert [r.status_id for r in j.pending_reports()] == ["s1", "s3"]
        assert j.fills() == (fill,)
        assert j.has_execution("e1")
        assert j.trading_state() == halted
        assert j.last_seq() >= 4

    check(journal)
    third = _batch("B3", ("DDD",), seq=5)  # goes on: new records after the old ones
    journal.record_batch(third, _legs(third), [_report("s4", _legs(third)[0])])
    journal.commit(JournalStep(batch_states=((first.batch_id, BatchState.PLACING, ""),)))
    assert journal.acknowledge_reports(["s1"]) == 1
    journal.close()

    again = SqliteJournal(path)
    first = replace(first, state=BatchState.PLACING)
    assert again.batches() == (first, second, third)
    assert again.legs() == (*legs, *_legs(third))
    assert [r.status_id for r in again.pending_reports()] == ["s3", "s4"]
    assert again.last_seq() == 5
    assert again.pragma("integrity_check") == "ok"
    again.close()


def test_a_journal_from_a_newer_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    SqliteJournal(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(RuntimeError, match="newer than this tradebridge"):
        SqliteJournal(path)



def _sent(leg: LegRecord, status: LegStatus = LegStatus.WORKING) -> LegRecord:
    return replace(leg, placement=Placement.SENT, status=status)


def test_what_the_broker_said_commits_without_waiting_for_the_disk_and_is_synced_just_after(
    tmp_path: Path, journal: SqliteJournal, monkeypatch: pytest.MonkeyPatch
) -> None:
    batch = _batch()
    legs = _legs(batch)
    journal.record_batch(batch, legs, [])
    seen: list[str] = []
    _spy_on(monkeypatch, "write_legs", journal, seen)
    said = tuple(_sent(leg) for leg in legs[:3])
    journal.commit(JournalStep(
        batch_states=((batch.batch_id, BatchState.PLACED, ""),),
        legs=said,
        fills=(Fill(ExecId("X1"), legs[0].order_ref, "AAA", Side.BUY, Decimal(10), Decimal(100), T0),),
        reports=tuple(_report(f"r{i}", leg) for i, leg in enumerate(said)),
    ))
    assert seen == [NORMAL]
    assert journal.pragma("synchronous") == FULL
    assert journal.wait_synced(timeout=5.0)
    again = SqliteJournal(tmp_path / "j.sqlite")
    assert again.legs()[:3] == said
    assert [r.status_id for r in again.pending_reports()] == ["r0", "r1", "r2"]
    assert again.has_execution(ExecId("X1"))
    again.close()


@pytest.mark.parametrize(
    "make_step",
    [
        pytest.param(lambda b, legs: JournalStep(legs=(replace(legs[0], placement=Placement.SENDING),)),
                     id="a leg about to be sent"),
        pytest.param(lambda b, legs: JournalStep(legs=(replace(legs[0], placement=Placement.SKIPPED,
                                                                status=LegStatus.REJECTED),)),
                     id="a leg the risk gate refused"),
        pytest.param(lambda b, legs: JournalStep(legs=(replace(legs[0], placement=Placement.FAILED,
                                                                status=LegStatus.REJECTED),)),
                     id="a leg the broker refused"),
        pytest.param(lambda b, legs: JournalStep(legs=(_sent(legs[0]), legs[1])), id="a pending leg beside"),
        pytest.param(lambda b, legs: JournalStep(batch_states=((b.batch_id, BatchState.REJECTED, "no"),)),
                     id="a batch rejected"),
        pytest.param(lambda b, legs: JournalStep(batch_states=((b.batch_id, BatchState.EXPIRED, "late"),)),
                     id="a batch expired"),
        pytest.param(lambda b, legs: JournalStep(legs=(_sent(legs[0]),), reports=(_report("r9", legs[1]),)),
                     id="a report of a leg not in the step"),
    ],
)
def test_every_decision_taken_before_or_instead_of_a_broker_call_is_synced_before_commit_returns(
    journal: SqliteJournal, monkeypatch: pytest.MonkeyPatch, make_step: Any
) -> None:
    batch = _batch()
    legs = _legs(batch)
    journal.record_batch(batch, legs, [])
    step = make_step(batch, legs)
    assert needs_sync(step)
    assert not needs_sync(JournalStep(legs=tuple(_sent(leg) for leg in legs[:2]),
                                      batch_states=((batch.batch_id, BatchState.PLACING, ""),)))
    seen: list[str] = []
    _spy_on(monkeypatch, "write_legs", journal, seen)
    journal.commit(JournalStep(legs=(replace(legs[0], placement=Placement.SENDING),)))
    assert seen == [FULL]
