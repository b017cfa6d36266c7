"""The HTTP wire schemas (msgspec Structs): requests refuse unknown fields; each maps to a core
command (`to_command`) or from a core value (`from_domain`). Money is Decimal, written as JSON
numbers with its exact digits (see responses.py)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated

import msgspec

from core.batches import ApprovedLine
from core.plans import Modification, Preview, PreviewLine, PreviewTotals
from core.scans import ScanRow
from core.service_layer.cloud import PlaceOrders, PlaceResult
from core.stores import ALL_ACCOUNTS, LegStatus, ScanSummary, StoredBatch, StoredScan
from core.values import Side, to_decimal

Account = Annotated[
    str,
    msgspec.Meta(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9*_.:-]+$",
        description="executor account id; '*' addresses every executor",
    ),
]
Text = Annotated[str, msgspec.Meta(max_length=200)]
ScanId = Annotated[int, msgspec.Meta(ge=1, le=2**62)]


def _label(side: Side) -> str:
    return "Buy" if side is Side.BUY else "Sell"


class ScanRowIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """One scan row. Prices are numbers (or numeric strings); side is Buy or Sell."""

    symbol: Text
    current_price: Decimal
    side: Text
    stop_loss: Decimal
    take_profit: Decimal
    target_date: date | None = None
    win_rate: Decimal | None = None
    adx: Decimal | None = None
    strategy: Text | None = None
    confidence: Decimal | None = None
    atr: Decimal | None = None

    def to_raw(self) -> dict[str, object]:
        """The row as `core.scans.parse_scan_rows` takes it (absent fields left out)."""
        return {name: value for name in self.__struct_fields__ if (value := getattr(self, name)) is not None}


class ScanIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /analysis/scans."""

    rows: list[ScanRowIn]
    name: Text | None = None

    def to_command(self) -> tuple[str | None, list[dict[str, object]]]:
        return self.name, [row.to_raw() for row in self.rows]


class ModifiedOrderIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A per-symbol size override: whole shares, 0 drops the symbol."""

    symbol: Text
    position_size: Decimal


class PlaceIn(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /analysis/orders/place-modified-orders."""

    scan_id: ScanId
    modified_orders: list[ModifiedOrderIn] = msgspec.field(default_factory=list)
    account: Account = ALL_ACCOUNTS

    def to_command(self, idempotency_key: str | None) -> PlaceOrders:
        """The command; ValueError naming the modification whose size is not a usable number."""
        modifications = []
        for number, item in enumerate(self.modified_orders, start=1):
            size = to_decimal(item.position_size, f"modified_orders[{number - 1}].position_size")
            modifications.append(Modification(item.symbol, size))
        return PlaceOrders(self.scan_id, tuple(modifications), self.account, idempotency_key)


class ScanCreatedOut(msgspec.Struct, kw_only=True):
    scan_id: int
    rows: int


class ScanSummaryOut(msgspec.Struct, kw_only=True):
    scan_id: int
    name: str
    created_at: datetime
    rows: int

    @classmethod
    def from_domain(cls, scan: ScanSummary) -> ScanSummaryOut:
        return cls(scan_id=scan.scan_id, name=scan.name, created_at=scan.created_at, rows=scan.row_count)


class ScanRowOut(msgspec.Struct, kw_only=True):
    symbol: str
    current_price: Decimal
    side: str
    stop_loss: Decimal
    take_profit: Decimal
    target_date: date | None
    win_rate: Decimal | None
    adx: Decimal | None
    strategy: str
    confidence: Decimal | None
    atr: Decimal | None

    @classmethod
    def from_domain(cls, row: ScanRow) -> ScanRowOut:
        return cls(
            symbol=row.symbol,
            current_price=row.current_price,
            side=_label(row.side),
            stop_loss=row.stop_loss,
            take_profit=row.take_profit,
            target_date=row.target_date,
            win_rate=row.win_rate,
            adx=row.adx,
            strategy=row.strategy,
            confidence=row.confidence,
            atr=row.atr,
        )


class ScanOut(msgspec.Struct, kw_only=True):
    scan_id: int
    name: str
    created_at: datetime
    rows: list[ScanRowOut]

    @classmethod
    def from_domain(cls, scan: StoredScan) -> ScanOut:
        return cls(
            scan_id=scan.scan_id,
            name=scan.name,
            created_at=scan.created_at,
            rows=[ScanRowOut.from_domain(row) for row in scan.rows],
        )


class RiskOut(msgspec.Struct, kw_only=True):
    approved: bool
    reasons: list[str]


class PreviewOrderOut(msgspec.Struct, kw_only=True):
    symbol: str
    side: str
    order_type: str
    current_price: Decimal
    position_size: Decimal
    investment: Decimal
    stop_loss: Decimal
    take_profit: Decimal
    target_date: date | None
    win_rate: Decimal | None
    adx: Decimal | None
    strategy: str
    risk: RiskOut
    risk_to_stop: Decimal
    reward_to_target: Decimal

    @classmethod
    def from_domain(cls, line: PreviewLine) -> PreviewOrderOut:
        row = line.row
        return cls(
            symbol=row.symbol,
            side=_label(row.side),
            order_type="Market",
            current_price=row.current_price,
            position_size=line.position_size,
            investment=line.investment,
            stop_loss=row.stop_loss,
            take_profit=row.take_profit,
            target_date=row.target_date,
            win_rate=row.win_rate,
            adx=row.adx,
            strategy=row.strategy,
            risk=RiskOut(approved=line.risk.approved, reasons=list(line.risk.reasons)),
            risk_to_stop=line.risk_to_stop,
            reward_to_target=line.reward_to_target,
        )


class TotalsOut(msgspec.Struct, kw_only=True):
    orders: int
    approved: int
    rejected: int
    total_shares: Decimal
    total_investment: Decimal
    approved_investment: Decimal
    total_risk_to_stop: Decimal
    total_reward_to_target: Decimal

    @classmethod
    def from_domain(cls, totals: PreviewTotals) -> TotalsOut:
        return cls(**{name: getattr(totals, name) for name in cls.__struct_fields__})


class PreviewOut(msgspec.Struct, kw_only=True):
    scan_id: int
    orders: list[PreviewOrderOut]
    totals: TotalsOut
    dropped: list[str]

    @classmethod
    def from_domain(cls, preview: Preview) -> PreviewOut:
        return cls(
            scan_id=preview.scan_id,
            orders=[PreviewOrderOut.from_domain(line) for line in preview.lines],
            totals=TotalsOut.from_domain(preview.totals),
            dropped=list(preview.dropped),
        )


class LegRefsOut(msgspec.Struct, kw_only=True):
    entry: str
    take_profit: str
    stop_loss: str


class OrderOut(msgspec.Struct, kw_only=True):
    order_ref: str
    symbol: str
    side: str
    order_type: str
    current_price: Decimal
    position_size: Decimal
    investment: Decimal
    stop_loss: Decimal
    take_profit: Decimal
    target_date: date | None
    win_rate: Decimal | None
    adx: Decimal | None
    strategy: str
    legs: LegRefsOut

    @classmethod
    def from_domain(cls, line: ApprovedLine) -> OrderOut:
        return cls(
            order_ref=line.entry_ref,
            symbol=line.symbol,
            side=_label(line.side),
            order_type="Market",
            current_price=line.entry_price,
            position_size=line.quantity,
            investment=line.investment,
            stop_loss=line.stop_loss,
            take_profit=line.take_profit,
            target_date=line.target_date,
            win_rate=line.win_rate,
            adx=line.adx,
            strategy=line.strategy,
            legs=LegRefsOut(
                entry=line.entry_ref, take_profit=line.take_profit_ref, stop_loss=line.stop_loss_ref
            ),
        )


class FileOut(msgspec.Struct, kw_only=True):
    """The batch's Excel order file. It is written in the background shortly after the answer
    (a download before then writes it at once); `error` is set when it could not be queued or the
    latest background write failed (this one will likely fail too; the download regenerates it)."""

    name: str
    download_url: str
    error: str | None = None


class DeliveryOut(msgspec.Struct, kw_only=True):
    state: str
    accounts: list[str]
    executors: list[str]
    seqs: list[int]


class PlaceOut(msgspec.Struct, kw_only=True):
    batch_id: str
    scan_id: int
    created: bool
    approved_at: datetime
    expires_at: datetime
    content_hash: str
    orders: list[OrderOut]
    file: FileOut
    delivery: DeliveryOut

    @classmethod
    def from_domain(cls, result: PlaceResult) -> PlaceOut:
        batch = result.batch.batch
        delivery = DeliveryOut(
            state=result.delivery.state,
            accounts=list(result.batch.accounts),
            executors=list(result.delivery.executors),
            seqs=[entry.seq for entry in result.entries],
        )
        return cls(
            batch_id=batch.batch_id,
            scan_id=batch.scan_id,
            created=result.created,
            approved_at=batch.approved_at,
            expires_at=batch.expires_at,
            content_hash=result.batch.content_hash,
            orders=[OrderOut.from_domain(line) for line in batch.legs],
            file=FileOut(name=result.file_name, download_url=result.download_url, error=result.file_error),
            delivery=delivery,
        )


class LegOut(msgspec.Struct, kw_only=True):
    order_ref: str
    symbol: str
    leg: str
    status: str
    filled: Decimal
    avg_price: Decimal
    message: str
    updated_at: datetime | None

    @classmethod
    def from_domain(cls, leg: LegStatus) -> LegOut:
        return cls(
            order_ref=leg.order_ref,
            symbol=leg.symbol,
            leg=leg.leg.value,
            status=leg.status.value,
            filled=leg.filled,
            avg_price=leg.avg_price,
            message=leg.message,
            updated_at=leg.updated_at,
        )


class BatchOut(msgspec.Struct, kw_only=True):
    batch_id: str
    scan_id: int
    accounts: list[str]
    created_at: datetime
    approved_at: datetime
    expires_at: datetime
    content_hash: str
    orders: list[OrderOut]
    legs: list[LegOut]
    file: FileOut

    @classmethod
    def from_domain(cls, stored: StoredBatch, file: FileOut) -> BatchOut:
        batch = stored.batch
        return cls(
            batch_id=batch.batch_id,
            scan_id=batch.scan_id,
            accounts=list(stored.accounts),
            created_at=stored.created_at,
            approved_at=batch.approved_at,
            expires_at=batch.expires_at,
            content_hash=stored.content_hash,
            orders=[OrderOut.from_domain(line) for line in batch.legs],
            legs=[LegOut.from_domain(leg) for leg in stored.legs],
            file=file,
        )


class HealthOut(msgspec.Struct, kw_only=True):
    status: str
    database: str
    outbox_backlog: int | None
    connected_clients: int
    executors: list[str]
    executor_status: dict[str, dict[str, object]]
    instance: str
