"""The Journal port's contract, run against every adapter: the in-memory fake and SQLite.

What any journal must do: keep what was written (and, on disk, after reopening), refuse a batch
id twice, apply an execution id once, write a step entirely or not at all, keep journal order,
keep reports until acknowledged, and persist the kill switch.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from adapters.journal import SqliteJournal
from core.broker_events import Fill
from core.journal import (
    BatchOrder,
    BatchState,
    DuplicateExecution,
    Journal,
    JournaledBatch,
    JournalStep,
    LegRecord,
    LegRole,
    LegStatus,
    Placement,
    RecordOutcome,
    StatusReport,
    TradingStateRecord,
)
from core.values import BatchId, ExecId, OrderRef, Side, TradingState
from tests.fakes.journal import InMemoryJournal
from tests.fakes.orders import bracket

T0 = datetime(2026, 1, 2, 14, 30, tzinfo=UTC)

Opener = Callable[[], Journal]


@pytest.fixture(params=["memory", "sqlite"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens the journal under test; for SQLite each call reopens the same file (a restart)."""
    opened: list[Journal] = []
    if request.param == "memory":
        memory = InMemoryJournal()

        def open_journal() -> Journal:
            return memory
    else:
        path = tmp_path / "journal.sqlite"

        def open_journal() -> Journal:
            made = SqliteJournal(path)
            opened.append(made)
            return made
    yield open_journal
    for journal in opened:
        journal.close()


def _batch(batch_id: str = "B1", seq: int | None = 1, symbols: tuple[str, ...] = ("AAA",)) -> JournaledBatch:
    orders = tuple(BatchOrder(bracket(f"tb:{batch_id}:{s}:E", symbol=s, entry=100), Decimal("100.5"))
                   for s in symbols)
    return JournaledBatch(BatchId(batch_id), seq, f"hash-{batch_id}", orders, T0, T0 + timedelta(hours=24))


def _legs(batch: JournaledBatch) -> list[LegRecord]:
    roles = (LegRole.ENTRY, LegRole.TAKE_PROFIT, LegRole.STOP_LOSS)
    return [LegRecord(leg.order_ref, batch.batch_id, order.bracket.entry.order_ref, role, leg)
            for order in batch.orders for leg, role in zip(order.bracket.legs, roles, strict=True)]


def _report(status_id: str, leg: LegRecord, status: LegStatus = LegStatus.RECEIVED) -> StatusReport:
    return StatusReport(status_id, leg.batch_id, leg.order_ref, leg.request.symbol, status, T0,
                        leg.filled, leg.avg_price, "note")


def _fill(exec_id: str, ref: str, quantity: int = 10, price: str = "100.25") -> Fill:
    return Fill(ExecId(exec_id), OrderRef(ref), "AAA", Side.BUY, Decimal(quantity), Decimal(price), T0,
                Decimal("1.5"))


def test_a_batch_is_kept_with_its_legs_and_reports(opener: Opener) -> None:
    journal = opener()
    batch = _batch(symbols=("AAA", "BBB"))
    legs = _legs(batch)
    assert journal.record_batch(batch, legs, [_report("s1", legs[0])]) is RecordOutcome.NEW
    again = opener()
    assert again.batch(batch.batch_id) == batch
    assert again.batches() == (batch,)
    assert again.legs() == tuple(legs)
    assert again.leg(legs[1].order_ref) == legs[1]
    assert again.leg(OrderRef("nope")) is None
    assert [r.status_id for r in again.pending_reports()] == ["s1"]
    assert again.pending_reports()[0] == _report("s1", legs[0])


def test_a_batch_id_is_journaled_once(opener: Opener) -> None:
    journal = opener()
    batch = _batch()
    journal.record_batch(batch, _legs(batch), [])
    other = replace(_batch(seq=7), content_hash="different")
    assert journal.record_batch(other, [], [_report("s9", _legs(batch)[0])]) is RecordOutcome.DUPLICATE
    assert opener().batch(batch.batch_id) == batch
    assert opener().pending_reports() == ()  # nothing of the duplicate was written
    assert opener().last_seq() == 1


def test_last_seq_is_the_highest_sequence_journaled(opener: Opener) -> None:
    journal = opener()
    assert journal.last_seq() == 0
    for batch_id, seq in (("B1", 3), ("B2", None), ("B3", 5), ("B4", 4)):
        journal.record_batch(_batch(batch_id, seq), [], [])
    assert opener().last_seq() == 5
    assert [b.batch_id for b in opener().batches()] == ["B1", "B2", "B3", "B4"]


def test_a_step_changes_batches_legs_fills_and_reports_together(opener: Opener) -> None:
    journal = opener()
    batch = _batch()
    legs = _legs(batch)
    journal.record_batch(batch, legs, [])
    entry = replace(legs[0], placement=Placement.SENT, status=LegStatus.FILLED, filled=Decimal(10),
                    avg_price=Decimal("100.25"), message="filled")
    fill = _fill("e1", entry.order_ref)
    journal.commit(JournalStep(batch_states=((batch.batch_id, BatchState.PLACING, ""),), legs=(entry,),
                               fills=(fill,), reports=(_report("s1", entry, LegStatus.FILLED),)))
    again = opener()
    batch_now = again.batch(batch.batch_id)
    assert batch_now is not None and batch_now.state is BatchState.PLACING
    assert again.legs() == (entry, legs[1], legs[2])  # a replaced leg keeps its place
    assert again.fills() == (fill,)
    assert again.has_execution("e1") and not again.has_execution("e2")
    assert [r.status for r in again.pending_reports()] == [LegStatus.FILLED]


def test_an_execution_is_applied_once_and_a_failed_step_writes_nothing(opener: Opener) -> None:
    journal = opener()
    batch = _batch()
    legs = _legs(batch)
    journal.record_batch(batch, legs, [])
    journal.commit(JournalStep(fills=(_fill("e1", legs[0].order_ref),)))
    changed = replace(legs[0], status=LegStatus.FILLED)
    with pytest.raises(DuplicateExecution):
        journal.commit(JournalStep(batch_states=((batch.batch_id, BatchState.PLACED, ""),), legs=(changed,),
                                   fills=(_fill("e2", legs[0].order_ref), _fill("e1", legs[0].order_ref)),
                                   reports=(_report("s1", changed),)))
    for again in (journal, opener()):  # what this journal remembers, and what the disk holds
        assert [f.exec_id for f in again.fills()] == ["e1"]
        assert again.legs()[0] == legs[0]
        assert again.leg(legs[0].order_ref) == legs[0]
        assert again.pending_reports() == ()
        batch_now = again.batch(batch.batch_id)
        assert batch_now is not None and batch_now.state is BatchState.RECEIVED


def test_a_state_for_an_unknown_batch_is_refused(opener: Opener) -> None:
    with pytest.raises(KeyError):
        opener().commit(JournalStep(batch_states=((BatchId("ghost"), BatchState.PLACED, ""),)))


def test_a_report_id_is_never_reused(opener: Opener) -> None:
    journal = opener()
    batch = _batch()
    legs = _legs(batch)
    journal.record_batch(batch, legs, [_report("s1", legs[0])])
    with pytest.raises(ValueError, match="IdGenerator"):
        journal.commit(JournalStep(legs=(replace(legs[1], message="x"),), reports=(_report("s1", legs[1]),)))
    assert opener().legs()[1] == legs[1]
    assert journal.leg(legs[1].order_ref) == legs[1]


def test_reports_stay_until_acknowledged(opener: Opener) -> None:
    journal = opener()
    batch = _batch()
    legs = _legs(batch)
    journal.record_batch(batch, legs, [_report(f"s{i}", leg) for i, leg in enumerate(legs)])
    assert journal.acknowledge_report("s1") is True
    assert journal.acknowledge_report("s1") is False
    assert journal.acknowledge_report("unknown") is False
    assert [r.status_id for r in opener().pending_reports()] == ["s0", "s2"]


def test_reports_acknowledged_together_are_forgotten_together(opener: Opener) -> None:
    journal = opener()
    batch = _batch(symbols=("AAA", "BBB"))
    legs = _legs(batch)
    journal.record_batch(batch, legs, [_report(f"s{i}", leg) for i, leg in enumerate(legs)])
    assert journal.acknowledge_report("s0") is True
    # s0 was acknowledged already, "unknown" never existed, s2 is named twice: counted once
    assert journal.acknowledge_reports(["s0", "s2", "unknown", "s1", "s2"]) == 2
    assert journal.acknowledge_reports([]) == 0
    assert [r.status_id for r in opener().pending_reports()] == ["s3", "s4", "s5"]
    assert journal.acknowledge_reports(["s1", "s2"]) == 0


def test_pending_reports_follow_every_write_of_the_same_journal(opener: Opener) -> None:
    journal = opener()
    batch = _batch(symbols=("AAA", "BBB"))
    legs = _legs(batch)
    assert journal.pending_reports() == ()
    journal.record_batch(batch, legs, [_report(f"s{i}", leg) for i, leg in enumerate(legs[:3])])
    journal.commit(JournalStep(reports=(_report("s9", legs[4]), replace(_report("s8", legs[5]), acked=True))))
    assert [r.status_id for r in journal.pending_reports()] == ["s0", "s1", "s2", "s9"]
    journal.acknowledge_report("s1")
    journal.acknowledge_reports(["s0", "s9"])
    with pytest.raises(ValueError):  # a reused report id: the step writes nothing
        journal.commit(JournalStep(reports=(_report("s7", legs[3]), _report("s2", legs[0]))))
    assert [r.status_id for r in journal.pending_reports()] == ["s2"]
    assert journal.pending_reports() == opener().pending_reports()


def test_sqlite_forgets_many_reports_in_one_transaction(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    try:
        batch = _batch()
        legs = _legs(batch)
        journal.record_batch(batch, legs, [_report(f"s{i}", leg) for i, leg in enumerate(legs)])
        statements: list[str] = []
        journal._conn.set_trace_callback(statements.append)  # the one way to see the transactions
        assert journal.acknowledge_reports([f"s{i}" for i in range(len(legs))]) == len(legs)
        assert [s for s in statements if s.split()[0] in ("BEGIN", "COMMIT")] == ["BEGIN IMMEDIATE", "COMMIT"]
    finally:
        journal.close()


def test_the_kill_switch_persists(opener: Opener) -> None:
    journal = opener()
    assert journal.trading_state() == TradingStateRecord()
    halted = TradingStateRecord(TradingState.HALTED, "panic", T0)
    journal.set_trading_state(halted)
    assert opener().trading_state() == halted
    opener().set_trading_state(TradingStateRecord(TradingState.ACTIVE, "calm", T0 + timedelta(minutes=5)))
    assert opener().trading_state().state is TradingState.ACTIVE


def test_sqlite_is_durable_by_configuration(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    try:
        assert journal.pragma("journal_mode") == "wal"
        assert journal.pragma("synchronous") == "2"  # FULL
    finally:
        journal.close()
    journal.close()  # twice is fine


def test_a_closed_sqlite_journal_says_so(tmp_path: Path) -> None:
    journal = SqliteJournal(tmp_path / "j.sqlite")
    journal.close()
    with pytest.raises(RuntimeError, match="closed"):
        journal.batches()


_WRITER = """
import sys
from adapters.journal import SqliteJournal
from tests.contract.test_journal_contract import _batch, _legs

journal = SqliteJournal(sys.argv[1])
for seq in range(1, 100_000):
    batch = _batch(f"B{seq}", seq)
    journal.record_batch(batch, _legs(batch), [])
    print(seq, flush=True)  # written only after the commit returned: the batch may be acknowledged
"""


def test_sqlite_keeps_every_committed_batch_through_kill_9(tmp_path: Path) -> None:
    """A real process journals batches and is killed with SIGKILL mid-stream; every batch it had
    reported as committed is in the journal when it is opened again, and the file is sound."""
    path = tmp_path / "journal.sqlite"
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    child = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE, text=True,
                             env=env, cwd=root)
    assert child.stdout is not None
    committed = [int(child.stdout.readline()) for _ in range(25)]
    child.send_signal(signal.SIGKILL)
    committed += [int(line) for line in child.stdout.read().split()]
    child.wait()
    journal = SqliteJournal(path)
    try:
        assert journal.pragma("integrity_check") == "ok"
        journaled = {b.batch_id for b in journal.batches()}
        assert {f"B{seq}" for seq in committed} <= journaled
        assert journal.last_seq() >= max(committed)
    finally:
        journal.close()
