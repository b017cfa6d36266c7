"""PreviewMemo: a scan's preview is kept per scan AND per policy. Under the policy it was made with
it is reused (the scan is not read or sized again); under another policy (equity, sizer, limits)
it is made afresh, and a placement follows the policy in force."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from core.plans import Preview
from core.risk import RiskLimits
from core.service_layer.cloud import (
    CloudDeps,
    CloudPolicy,
    PlaceOrders,
    PreviewMemo,
    add_scan,
    place_modified_orders,
    preview_scan,
)
from core.sizing import FixedInvestmentSizer, PercentOfEquitySizer
from core.stores import StoredScan
from tests.fakes.cloud import CloudWorld
from tests.fakes.stores import MemoryScanStore
from tests.unit.test_cloud_use_cases import ROWS

EQUITY_SIZER = PercentOfEquitySizer(Decimal("0.1"))


class CountingScanStore(MemoryScanStore):
    """The in-memory scan store, counting reads of a scan."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get_scan(self, scan_id: int) -> StoredScan | None:
        self.reads += 1
        return await super().get_scan(scan_id)


async def world_with(policy: CloudPolicy) -> tuple[CloudWorld, CountingScanStore, CloudDeps, int]:
    scans = CountingScanStore()
    world = CloudWorld(scans=scans)
    deps = dataclasses.replace(world.deps, policy=policy)
    return world, scans, deps, await add_scan(scans, world.clock, "scan", ROWS)


def sizes(preview: Preview) -> dict[str, Decimal]:
    return {line.symbol: line.position_size for line in preview.lines}


async def test_under_the_same_policy_a_scan_is_read_and_sized_once() -> None:
    _world, scans, deps, scan_id = await world_with(CloudPolicy(EQUITY_SIZER, Decimal(100_000)))
    first = await preview_scan(deps, scan_id)
    again = await preview_scan(deps, scan_id)
    assert again is first
    assert scans.reads == 1


async def test_another_equity_gets_its_own_preview() -> None:
    small = CloudPolicy(EQUITY_SIZER, Decimal(100_000))
    _world, scans, deps, scan_id = await world_with(small)
    assert sizes(await preview_scan(deps, scan_id)) == {"AAPL": Decimal(50), "MSFT": Decimal(25)}
    large = dataclasses.replace(small, equity=Decimal(200_000))
    larger = await preview_scan(dataclasses.replace(deps, policy=large), scan_id)
    assert sizes(larger) == {"AAPL": Decimal(100), "MSFT": Decimal(50)}
    assert scans.reads == 2
    # The first policy's preview is not lost either way round: it is simply made again if needed.
    assert sizes(await preview_scan(deps, scan_id)) == {"AAPL": Decimal(50), "MSFT": Decimal(25)}


async def test_another_investment_per_order_gets_its_own_preview() -> None:
    _world, _scans, deps, scan_id = await world_with(
        CloudPolicy(FixedInvestmentSizer(Decimal(10_000)), Decimal(100_000))
    )
    assert sizes(await preview_scan(deps, scan_id)) == {"AAPL": Decimal(50), "MSFT": Decimal(25)}
    halved = dataclasses.replace(deps.policy, sizer=FixedInvestmentSizer(Decimal(5_000)))
    assert sizes(await preview_scan(dataclasses.replace(deps, policy=halved), scan_id)) == {
        "AAPL": Decimal(25), "MSFT": Decimal(12)
    }


async def test_other_risk_limits_get_their_own_verdicts() -> None:
    _world, _scans, deps, scan_id = await world_with(CloudPolicy(EQUITY_SIZER, Decimal(100_000)))
    assert (await preview_scan(deps, scan_id)).totals.rejected == 0
    one_position = dataclasses.replace(deps.policy, limits=RiskLimits(max_open_positions=1))
    strict = await preview_scan(dataclasses.replace(deps, policy=one_position), scan_id)
    assert [line.risk.approved for line in strict.lines] == [True, False]


async def test_a_placement_follows_the_policy_in_force_not_the_previewed_one() -> None:
    world, _scans, deps, scan_id = await world_with(CloudPolicy(EQUITY_SIZER, Decimal(100_000)))
    await preview_scan(deps, scan_id)
    larger = dataclasses.replace(deps, policy=dataclasses.replace(deps.policy, equity=Decimal(200_000)))
    result = await place_modified_orders(larger, PlaceOrders(scan_id, (), account="DU1"))
    assert {line.symbol: line.quantity for line in result.batch.batch.legs} == {
        "AAPL": Decimal(100), "MSFT": Decimal(50)
    }
    assert world.batches.place_calls == 1


async def test_each_scan_has_its_own_preview() -> None:
    world, scans, deps, first_scan = await world_with(CloudPolicy(EQUITY_SIZER, Decimal(100_000)))
    other_rows = [
        {**ROWS[0], "symbol": "NVDA", "current_price": "500", "stop_loss": "480", "take_profit": "550"}
    ]
    second_scan = await add_scan(scans, world.clock, "other", other_rows)
    assert [line.symbol for line in (await preview_scan(deps, first_scan)).lines] == ["AAPL", "MSFT"]
    assert [line.symbol for line in (await preview_scan(deps, second_scan)).lines] == ["NVDA"]
    assert [line.symbol for line in (await preview_scan(deps, first_scan)).lines] == ["AAPL", "MSFT"]
    assert scans.reads == 2


def test_the_memo_keeps_the_most_recently_used_scans_only() -> None:
    policy = CloudPolicy(EQUITY_SIZER, Decimal(100_000))
    memo = PreviewMemo(max_scans=2)
    previews = {scan_id: Preview(scan_id, ()) for scan_id in (1, 2, 3)}
    memo.put(1, policy, previews[1])
    memo.put(2, policy, previews[2])
    assert memo.get(1, policy) is previews[1]  # 1 is now the most recently used
    memo.put(3, policy, previews[3])
    assert memo.get(2, policy) is None
    assert memo.get(1, policy) is previews[1] and memo.get(3, policy) is previews[3]


def test_the_memo_answers_only_for_the_policy_a_preview_was_made_under() -> None:
    policy = CloudPolicy(EQUITY_SIZER, Decimal(100_000))
    memo = PreviewMemo()
    memo.put(1, policy, Preview(1, ()))
    assert memo.get(1, dataclasses.replace(policy, equity=Decimal(1))) is None
    assert memo.get(2, policy) is None
    assert memo.get(1, policy) == Preview(1, ())
