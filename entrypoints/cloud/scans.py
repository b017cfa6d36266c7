"""Scan intake and listing: POST/GET /analysis/scans, GET /analysis/scans/{scan_id}."""

from __future__ import annotations

from typing import Annotated

from litestar import Controller, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter

from core.service_layer.cloud import CloudDeps, UnknownScan, add_scan
from entrypoints.cloud.schemas import ScanCreatedOut, ScanIn, ScanOut, ScanSummaryOut

MAX_ID = 2**62


class ScanController(Controller):
    """Scans as users send them (JSON rows) and as stored."""

    path = "/analysis/scans"
    tags = ["scans"]  # noqa: RUF012 (Litestar declares it a list attribute)

    @post("/", status_code=201, summary="Store a scan; 400 names every bad row and field")
    async def create_scan(self, data: JSONBody[ScanIn], deps: NamedDependency[CloudDeps]) -> ScanCreatedOut:
        name, rows = data.to_command()
        return ScanCreatedOut(scan_id=await add_scan(deps.scans, deps.clock, name, rows), rows=len(rows))

    @get("/", summary="Scans, newest first")
    async def list_scans(
        self,
        deps: NamedDependency[CloudDeps],
        limit: Annotated[int, QueryParameter(ge=1, le=500)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=1_000_000_000)] = 0,
    ) -> list[ScanSummaryOut]:
        return [ScanSummaryOut.from_domain(scan) for scan in await deps.scans.list_scans(limit, offset)]

    @get("/{scan_id:int}", summary="One scan with its rows")
    async def get_scan(self, scan_id: FromPath[int], deps: NamedDependency[CloudDeps]) -> ScanOut:
        scan = await deps.scans.get_scan(scan_id) if 1 <= scan_id <= MAX_ID else None
        if scan is None:
            raise UnknownScan(scan_id)
        return ScanOut.from_domain(scan)
