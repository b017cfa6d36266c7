"""The executor's statuses on the wire: `wire_status` + `encode_statuses` write the very bytes that
`LocalTradingStatus` + `LocalTradingStatuses` + `encode` wrote, and the cloud decodes them alike."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from adapters.wire import messages
from core.journal import LegStatus, StatusReport
from core.values import BatchId, OrderRef
from entrypoints.executor.link import wire_status

T0 = datetime(2026, 3, 4, 15, 0, 0, 123456, tzinfo=UTC)


def _reports() -> list[StatusReport]:
    return [
        StatusReport(f"st-x.{n:08d}", BatchId("B1"), OrderRef(f"tb:B1:S{n}:E"), f"S{n}", status, T0,
                     Decimal(n), Decimal("101.25") * n, message)
        for n, (status, message) in enumerate(
            [(status, "") for status in LegStatus] + [(LegStatus.ERROR, 'quote " and \\ and \n and é')]
        )
    ]


def _old_status(report: StatusReport, account: str) -> messages.LocalTradingStatus:
    return messages.LocalTradingStatus(
        batch_id=report.batch_id, order_ref=report.order_ref, symbol=report.symbol,
        status=report.status.value, filled=report.filled, avg_price=report.avg_price,
        message=report.message, status_id=report.status_id, account=account,
        time=report.created_at.isoformat(),
    )


def test_a_frame_of_statuses_is_the_same_bytes_as_before() -> None:
    reports = _reports()
    new = messages.encode_statuses([wire_status(r, "DU1") for r in reports])
    old = messages.encode(
        messages.LOCAL_TRADING_STATUSES,
        messages.LocalTradingStatuses(statuses=[_old_status(r, "DU1") for r in reports]),
    )
    assert new == old
    decoded = messages.decode(new)
    assert decoded.event == messages.LOCAL_TRADING_STATUSES
    assert decoded.data.statuses == [_old_status(r, "DU1") for r in reports]


def test_one_status_alone_is_the_same_bytes_as_before() -> None:
    for report in _reports():
        new = messages.encode(messages.LOCAL_TRADING_STATUS, wire_status(report, "DU1"))
        assert new == messages.encode(messages.LOCAL_TRADING_STATUS, _old_status(report, "DU1"))


def test_every_leg_status_is_one_the_cloud_takes() -> None:
    assert {status.value for status in LegStatus} <= messages.LEG_STATUSES


def test_too_many_statuses_for_one_frame_are_refused() -> None:
    report = _reports()[0]
    statuses = [wire_status(report, "DU1")] * (messages.MAX_STATUSES_PER_FRAME + 1)
    with pytest.raises(ValueError, match="at most"):
        messages.encode_statuses(statuses)
