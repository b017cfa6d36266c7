"""Orders: preview a scan, place a batch, a batch's legs, and its Excel file."""

from __future__ import annotations

import logging
from typing import Annotated

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, HeaderParameter, JSONBody

from core.batches import BATCH_ID_PATTERN
from core.order_file import OrderFileError
from core.service_layer.cloud import (
    CloudDeps,
    UnknownScan,
    order_file_name,
    order_file_rows,
    place_modified_orders,
    preview_scan,
)
from entrypoints.cloud.errors import NotFound
from entrypoints.cloud.order_files import DeferredOrderFiles
from entrypoints.cloud.responses import DecimalNumberResponse
from entrypoints.cloud.scans import MAX_ID
from entrypoints.cloud.schemas import BatchOut, FileOut, PlaceIn, PlaceOut, PreviewOut

logger = logging.getLogger(__name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
IdempotencyKey = Annotated[
    str | None, HeaderParameter(name="Idempotency-Key", required=False, min_length=1, max_length=200)
]


class OrderController(Controller):
    """The seed's order routes, plus batch status and the order file download."""

    path = "/analysis/orders"
    tags = ["orders"]  # noqa: RUF012 (Litestar declares it a list attribute)

    @get("/preview/{scan_id:int}", summary="Sized order lines with risk verdicts and totals")
    async def preview(self, scan_id: FromPath[int], deps: NamedDependency[CloudDeps]) -> PreviewOut:
        if not 1 <= scan_id <= MAX_ID:
            raise UnknownScan(scan_id)
        return PreviewOut.from_domain(await preview_scan(deps, scan_id))

    @post(
        "/place-modified-orders", summary="Approve, store and deliver a batch (Idempotency-Key: safe retries)"
    )
    async def place(
        self,
        data: JSONBody[PlaceIn],
        deps: NamedDependency[CloudDeps],
        idempotency_key: IdempotencyKey = None,
    ) -> DecimalNumberResponse:
        result = await place_modified_orders(deps, data.to_command(idempotency_key))
        return DecimalNumberResponse(PlaceOut.from_domain(result), status_code=201 if result.created else 200)

    @get("/batches/{batch_id:str}", summary="A batch with every leg's latest status")
    async def batch(
        self,
        batch_id: FromPath[str],
        deps: NamedDependency[CloudDeps],
        files: NamedDependency[DeferredOrderFiles],
    ) -> BatchOut:
        stored = await deps.batches.get_batch(batch_id) if BATCH_ID_PATTERN.fullmatch(batch_id) else None
        if stored is None:
            raise NotFound(
                f"there is no batch {batch_id!r}; the batch id is in the answer of place-modified-orders"
            )
        name = order_file_name(stored.batch_id)
        return BatchOut.from_domain(stored, FileOut(name=name, download_url=files.download_url(name)))

    @get("/files/{name:str}", summary="The Excel order file of a batch", media_type=XLSX)
    async def file(
        self,
        name: FromPath[str],
        deps: NamedDependency[CloudDeps],
        files: NamedDependency[DeferredOrderFiles],
    ) -> Response[bytes]:
        batch_id = files.batch_id_of(name)
        if batch_id is None:
            raise NotFound(
                f"{name!r} is not an order file name; the name is in the answer of "
                f"place-modified-orders (orders_<batch id>.xlsx)"
            )
        try:
            # A file still queued for the background writer is written now.
            content = await files.read(name)
            if content is None:
                # Not written (a failed write) or lost: the stored batch is the record.
                stored = await deps.batches.get_batch(batch_id)
                if stored is None:
                    raise NotFound(f"there is no order file {name!r}: no batch {batch_id} was placed")
                await files.write_missing(name, order_file_rows(stored.batch))
                content = await files.read(name)
        except (OrderFileError, OSError, ValueError) as error:
            logger.error("order file %s not generated: %s", name, error)
            raise NotFound(
                f"the order file {name!r} could not be generated ({error}); try again later"
            ) from error
        if content is None:
            raise NotFound(f"the order file {name!r} could not be generated; try again later")
        return Response(
            content, media_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )
