"""What the cloud ends up showing for a stop the executor had to replace by flattening: the reports
are folded by the cloud's own rule (`report_supersedes`: a final status stays), so the `error`
alarm must not come after a plain `rejected`/`cancelled` of the same stop, and reports about the
flattening order (a ref the cloud never delivered, which it refuses) go to the stop's leg."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from core.batches import Leg, leg_ref
from core.clock import ManualClock, SequentialIds
from core.journal import LegStatus, StatusReport
from core.risk import RiskLimits
from core.service_layer.executor.placement import alarms_win
from core.service_layer.executor.service import ExecutorService
from core.service_layer.executor.settings import ExecutorSettings
from core.stores import LegState, report_supersedes
from core.values import BatchId
from tests.fakes.broker import FakeBroker
from tests.fakes.journal import InMemoryJournal, wire_batch, wire_order

E, TP, SL = (leg_ref("B1", "AAA", leg) for leg in Leg)


def cloud_view(reports: Sequence[StatusReport]) -> dict[str, tuple[LegState, Decimal, str]]:
    """Each leg's latest (status, filled, message) as the cloud keeps it."""
    shown: dict[str, tuple[LegState, Decimal, str]] = {}
    for report in reports:
        new = LegState.parse(report.status.value)
        current = shown.get(report.order_ref)
        if current is None or report_supersedes(current[0], current[1], new, report.filled):
            shown[report.order_ref] = (new, report.filled, report.message)
    return shown


async def _stop_lost_after_the_fill() -> tuple[ExecutorService, FakeBroker]:
    clock = ManualClock()
    journal = InMemoryJournal()
    broker = FakeBroker(clock)
    await broker.connect()
    executor = ExecutorService(
        journal, broker, clock, SequentialIds(), ExecutorSettings(limits=RiskLimits.unlimited())
    )
    await executor.start()
    executor.receive(wire_batch("B1", wire_order("AAA")), 1)
    await executor.place_pending()
    broker.set_price("AAA", Decimal(100))
    await executor.pump()
    await broker.cancel_order(SL)  # the stop ends while 10 shares are open (as a 201 would end it)
    await executor.pump()
    return executor, broker


async def test_the_cloud_shows_the_lost_stop_as_an_error_not_as_cancelled() -> None:
    executor, _ = await _stop_lost_after_the_fill()
    state, filled, message = cloud_view(executor.pending_reports())[SL]
    assert state is LegState.ERROR
    assert filled == 0
    assert "FL1" in message


async def test_reports_about_the_flattening_order_reach_the_cloud_on_the_stops_leg() -> None:
    executor, broker = await _stop_lost_after_the_fill()
    assert broker.holdings["AAA"][0] == 0
    reports = executor.pending_reports()
    assert {r.order_ref for r in reports} <= {E, TP, SL}  # only refs the cloud delivered
    last = cloud_view(reports)[SL][2]
    assert f"flattening order {E}:FL1 (SELL 10 AAA) filled 10" in last, last
    assert f"stop {SL} cancelled" in last, last
    # Acknowledging by the status id still empties the journal's outbox.
    for report in reports:
        assert executor.acknowledge_report(report.status_id)
    assert executor.pending_reports() == ()


def test_an_alarm_replaces_the_plain_report_of_its_leg_and_keeps_the_brokers_words() -> None:
    now, batch = ManualClock().now(), BatchId("B1")
    plain = StatusReport(
        "s1", batch, SL, "AAA", LegStatus.REJECTED, now, message="Error 201: insufficient margin"
    )
    alarm = StatusReport("s2", batch, SL, "AAA", LegStatus.ERROR, now, message="NAKED: flattening with FL1")
    other = StatusReport("s3", batch, TP, "AAA", LegStatus.CANCELLED, now)
    merged = alarms_win([plain, other], [alarm])
    assert [r.status_id for r in merged] == ["s3", "s2"]
    assert merged[1].message == "NAKED: flattening with FL1 (the broker said: Error 201: insufficient margin)"


async def test_reports_read_before_the_flattening_do_not_keep_later_ones_from_being_readdressed() -> None:
    # The service remembers which pending reports it found about legs the cloud delivered; reading
    # them at every step (as the link does) must give what one reading at the end gives.
    clock = ManualClock()
    journal = InMemoryJournal()
    broker = FakeBroker(clock)
    await broker.connect()
    executor = ExecutorService(
        journal, broker, clock, SequentialIds(), ExecutorSettings(limits=RiskLimits.unlimited())
    )
    await executor.start()
    executor.receive(wire_batch("B1", wire_order("AAA")), 1)
    seen = [executor.pending_reports()]
    await executor.place_pending()
    seen.append(executor.pending_reports())
    broker.set_price("AAA", Decimal(100))
    await executor.pump()
    seen.append(executor.pending_reports())
    executor.acknowledge_reports([seen[0][0].status_id])
    await broker.cancel_order(SL)
    await executor.pump()
    reports = executor.pending_reports()
    assert {r.order_ref for r in reports} <= {E, TP, SL}
    assert "flattening order" in cloud_view(reports)[SL][2]
    again, _ = await _stop_lost_after_the_fill()
    expected = [(r.order_ref, r.status, r.message) for r in again.pending_reports()][1:]
    assert [(r.order_ref, r.status, r.message) for r in reports] == expected
