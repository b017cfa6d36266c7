"""The executor end to end with the IBKR adapter: `tradebridge serve`, `tradebridge executor` (no
--simulate; TWS_HOST / TWS_PORT / TWS_CLIENT_ID point it at the fake TWS) and the fake TWS as its own
process. A batch placed through HTTP ends with every leg's status at the cloud and every leg at the
"broker" once, linked as a bracket; and the faults: 201 on a live stop after its entry filled (the
executor flattens and reports `error`), 326 on connect (a second executor on the same client id
stops and says why), 1100 then 1102 mid-batch (reconciled, nothing placed twice)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.executor_support import Cloud, wait_for
from tests.e2e.ibkr_executor_support import FakeTWSProcess, IbkrExecutor, count_refs

pytestmark = pytest.mark.slow

ACCOUNTS = ["DU100001", "DU100002", "DU100003", "DU100004", "DU100005"]
_client_ids = itertools.count(11)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    service = Cloud(tmp_path_factory.mktemp("ibkr-cloud"))
    yield service
    service.stop()


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeTWSProcess]:
    process = FakeTWSProcess(tmp_path_factory.mktemp("fake-tws"), ACCOUNTS)
    yield process
    process.stop()


def executor_for(cloud: Cloud, fake: FakeTWSProcess, directory: Path, account: str) -> IbkrExecutor:
    return IbkrExecutor(cloud, directory, fake, account, next(_client_ids))


def legs_by_ref(batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {leg["order_ref"]: leg for leg in batch["legs"]}


def test_a_batch_placed_through_http_ends_with_every_leg_at_the_cloud_and_once_at_tws_as_a_bracket(
    cloud: Cloud, fake: FakeTWSProcess, tmp_path: Path
) -> None:
    executor = executor_for(cloud, fake, tmp_path, ACCOUNTS[0])
    executor.start()
    try:
        executor.wait_connected()
        placed = cloud.place(cloud.add_sample_scan(), ACCOUNTS[0])
        batch = wait_for(
            "every leg's status at the cloud", 30, lambda: cloud.all_reported(placed["batch_id"])
        )
        legs = batch["legs"]
        assert len(legs) == 24
        assert {leg["status"] for leg in legs if leg["leg"] == "entry"} == {"filled"}
        assert {leg["status"] for leg in legs if leg["leg"] != "entry"} == {"working"}
        orders = fake.orders_of(placed["batch_id"])
        found = count_refs(orders, batch)
        assert (found.placements, found.duplicates, found.lost, found.unprotected) == (24, (), (), ())
        by_ref = {o["order_ref"]: o for o in orders}
        for order in batch["orders"]:
            refs = order["legs"]
            entry, target, stop = (
                by_ref[refs["entry"]],
                by_ref[refs["take_profit"]],
                by_ref[refs["stop_loss"]],
            )
            assert {o["account"] for o in (entry, target, stop)} == {ACCOUNTS[0]}
            assert (entry["parent_id"], entry["transmit"], entry["order_type"]) == (0, False, "MKT")
            assert (target["parent_id"], target["transmit"], target["order_type"]) == (
                entry["order_id"],
                False,
                "LMT",
            )
            assert (stop["parent_id"], stop["transmit"], stop["order_type"]) == (
                entry["order_id"],
                True,
                "STP",
            )
            assert target["oca_group"] == stop["oca_group"] != ""
            assert entry["oca_group"] == ""
            assert Decimal(entry["filled"]) == Decimal(str(order["position_size"]))
            assert Decimal(stop["aux_price"]) == Decimal(str(order["stop_loss"]))
            assert Decimal(target["limit_price"]) == Decimal(str(order["take_profit"]))
        assert "Traceback" not in executor.output()
    finally:
        assert executor.stop() == 0


def test_error_201_on_a_live_stop_after_its_entry_filled_flattens_at_tws_and_reports_error(
    cloud: Cloud, fake: FakeTWSProcess, tmp_path: Path
) -> None:
    account = ACCOUNTS[1]
    executor = executor_for(cloud, fake, tmp_path, account)
    executor.start()
    try:
        executor.wait_connected()
        placed = cloud.place(cloud.add_sample_scan(rows=1), account)  # AAPL, 43 shares long
        batch = wait_for("the bracket at the cloud", 30, lambda: cloud.all_reported(placed["batch_id"]))
        refs = batch["orders"][0]["legs"]
        assert legs_by_ref(batch)[refs["entry"]]["status"] == "filled"
        reason = "Order rejected - reason: insufficient margin to keep the stop"
        fake.reject_live_order(refs["stop_loss"], 201, reason)

        def flattened_at_the_cloud() -> Any:
            leg = legs_by_ref(cloud.batch(placed["batch_id"]))[refs["stop_loss"]]
            done = (
                leg["status"] == "error"
                and "flattening order" in leg["message"]
                and "filled" in leg["message"]
            )
            return leg if done else None

        stop = wait_for("the stop's error and the flattening at the cloud", 20, flattened_at_the_cloud)
        # One message says what happened: the stop, IB's words, the flattening order and its fill.
        assert f"stop {refs['stop_loss']} rejected" in stop["message"], stop
        assert "201" in stop["message"] and "insufficient margin" in stop["message"], stop
        assert "(SELL 43" in stop["message"] and "AAPL) filled 43" in stop["message"], stop
        assert legs_by_ref(cloud.batch(placed["batch_id"]))[refs["entry"]]["status"] == "filled"

        def flat_at_tws() -> bool:
            held = [p for p in fake.control.positions() if p["account"] == account and p["symbol"] == "AAPL"]
            return all(Decimal(p["position"]) == 0 for p in held)

        wait_for("the AAPL position flattened at the fake TWS", 20, flat_at_tws)
        orders = fake.orders_of(placed["batch_id"])
        flattening = [o for o in orders if o["order_ref"] not in refs.values()]
        assert len(flattening) == 1, orders  # one market order, sent once
        assert (flattening[0]["action"], flattening[0]["order_type"], flattening[0]["status"]) == (
            "SELL",
            "MKT",
            "Filled",
        )
        assert Decimal(flattening[0]["filled"]) == 43
        assert "Traceback" not in executor.output()
    finally:
        assert executor.stop() == 0


def test_a_second_executor_on_the_same_client_id_stops_and_says_why(
    cloud: Cloud, fake: FakeTWSProcess, tmp_path: Path
) -> None:
    first = executor_for(cloud, fake, tmp_path / "first", ACCOUNTS[2])
    first.start()
    try:
        first.wait_connected()
        second = IbkrExecutor(cloud, tmp_path / "second", fake, ACCOUNTS[3], first.client_id)
        process = second.start()
        assert process.wait(timeout=30) == 4
        output = second.output()
        assert "326" in output and "TWS_CLIENT_ID" in output, output
        assert "Traceback" not in output, output
        assert first.process is not None and first.process.poll() is None  # the first keeps running
    finally:
        assert first.stop() == 0


def test_1100_then_1102_mid_batch_is_reconciled_and_nothing_is_placed_twice(
    cloud: Cloud, fake: FakeTWSProcess, tmp_path: Path
) -> None:
    account = ACCOUNTS[4]
    executor = executor_for(cloud, fake, tmp_path, account)
    executor.start()
    try:
        executor.wait_connected()
        scan_id = cloud.add_sample_scan()
        placed = cloud.place(scan_id, account)
        at_1100 = len(
            wait_for("the first bracket at the fake", 20, lambda: fake.orders_of(placed["batch_id"]))
        )
        fake.control.send_error(1100)
        fake.control.send_error(1102)
        batch = wait_for(
            "every leg's status at the cloud", 30, lambda: cloud.all_reported(placed["batch_id"])
        )
        found = count_refs(fake.orders_of(placed["batch_id"]), batch)
        assert (found.placements, found.duplicates, found.lost, found.unprotected) == (24, (), (), ())
        assert {leg["status"] for leg in batch["legs"] if leg["leg"] == "entry"} == {"filled"}
        for order in batch["orders"]:  # each entry filled once: no fill adopted twice
            entry = legs_by_ref(batch)[order["legs"]["entry"]]
            assert Decimal(str(entry["filled"])) == Decimal(str(order["position_size"])), entry
        executions = [
            e for e in fake.control.executions() if e["order_ref"].startswith(f"tb:{placed['batch_id']}:")
        ]
        assert len(executions) == 8
        print(f"\n1100 sent with {at_1100}/24 legs of the batch at the fake TWS")
        # 1100 halts trading until a reconciliation after 1102 succeeds: the next batch proves it ran.
        second = cloud.place(scan_id, account)
        batch = wait_for("the next batch", 30, lambda: cloud.all_reported(second["batch_id"]))
        assert count_refs(fake.orders_of(second["batch_id"]), batch).placements == 24
        assert "Traceback" not in executor.output()
    finally:
        assert executor.stop() == 0
