"""The cloud's HTTP routes through a real uvicorn server: success and error answers, auth on
every route, idempotency, the Excel file, the OpenAPI document, rate limiting and the body cap."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import fastexcel
import httpx
import pytest

from core.order_file import ORDER_FILE_COLUMNS
from tests.integration.cloud_server import (
    AUTH,
    DATABASES,
    SCAN,
    Server,
    running_server,
    server_on,
    server_settings,
)

ROUTES = [
    ("POST", "/analysis/scans"),
    ("GET", "/analysis/scans"),
    ("GET", "/analysis/scans/1"),
    ("GET", "/analysis/orders/preview/1"),
    ("POST", "/analysis/orders/place-modified-orders"),
    ("GET", "/analysis/orders/batches/abc"),
    ("GET", "/analysis/orders/files/orders_abc.xlsx"),
    ("GET", "/schema/openapi.json"),
]


@pytest.fixture(scope="module", params=DATABASES)
def server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with server_on(request.param, tmp_path_factory.mktemp("cloud")) as running:
        yield running


@pytest.fixture
async def client(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server.http, headers=AUTH, timeout=10) as http:
        yield http


async def new_scan(client: httpx.AsyncClient) -> int:
    answer = await client.post("/analysis/scans", json=SCAN)
    assert answer.status_code == 201, answer.text
    assert answer.json()["rows"] == 2
    return int(answer.json()["scan_id"])


async def test_health_is_open_and_reports_the_database(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.http) as anonymous:
        answer = await anonymous.get("/health")
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "ok" and body["database"] == "ok" and body["outbox_backlog"] >= 0


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}])
async def test_every_route_but_health_needs_the_token(
    server: Server, method: str, path: str, headers: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=server.http, headers=headers) as anonymous:
        answer = await anonymous.request(method, path, json={})
    assert answer.status_code == 401
    assert "Bearer" in answer.json()["detail"]


async def test_scans_are_stored_listed_and_read_back(client: httpx.AsyncClient) -> None:
    scan_id = await new_scan(client)
    listing = (await client.get("/analysis/scans")).json()
    assert any(item["scan_id"] == scan_id and item["rows"] == 2 for item in listing)
    scan = (await client.get(f"/analysis/scans/{scan_id}")).json()
    assert scan["name"] == "morning"
    assert [row["symbol"] for row in scan["rows"]] == ["AAPL", "MSFT"]
    assert scan["rows"][1]["current_price"] == 400.10 and scan["rows"][0]["side"] == "Buy"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"rows": [{**SCAN["rows"][0], "stop_loss": 230}]}, ["row 1", "stop_loss"]),  # type: ignore[dict-item]
        ({"rows": [SCAN["rows"][0], {**SCAN["rows"][1], "side": "Hold"}]}, ["row 2", "side"]),  # type: ignore[dict-item]
        ({"rows": [{**SCAN["rows"][0], "current_price": -5}]}, ["current_price"]),  # type: ignore[dict-item]
        ({"rows": [{**SCAN["rows"][0], "current_price": "1e40"}]}, ["too large"]),  # type: ignore[dict-item]
        ({"rows": [{**SCAN["rows"][0], "colour": "red"}]}, ["colour"]),  # type: ignore[dict-item]
        ({"rows": [{**SCAN["rows"][0], "current_price": True}]}, ["current_price"]),  # type: ignore[dict-item]
        ({"rows": []}, ["at least one row"]),
        ({"rows": [], "extra": 1}, ["extra"]),
        ({"name": "x"}, ["rows"]),
    ],
)
async def test_bad_scans_answer_400_naming_the_row_and_field(
    client: httpx.AsyncClient, body: dict[str, Any], words: list[str]
) -> None:
    answer = await client.post("/analysis/scans", json=body)
    assert answer.status_code == 400, answer.text
    for word in words:
        assert word in answer.text


async def test_malformed_json_answers_400(client: httpx.AsyncClient) -> None:
    for content in (b"{", b"[1, 2", b"\xff\xfe", b"null", b"1e999999"):
        answer = await client.post(
            "/analysis/scans", content=content, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400, (content, answer.text)


@pytest.mark.parametrize(
    "path",
    [
        "/analysis/scans/999999",
        "/analysis/scans/99999999999999999999999",
        "/analysis/scans/0",
        "/analysis/orders/preview/999999",
        "/analysis/orders/preview/-1",
        "/analysis/orders/batches/nope",
        "/analysis/orders/batches/" + "x" * 40,
        "/analysis/orders/files/orders_nope.xlsx",
        "/analysis/orders/files/passwd",
        "/analysis/orders/files/..%2F..%2Fetc%2Fpasswd",
    ],
)
async def test_unknown_ids_answer_404(client: httpx.AsyncClient, path: str) -> None:
    answer = await client.get(path)
    assert answer.status_code == 404, answer.text


async def test_preview_sizes_each_row_with_risk_and_totals(client: httpx.AsyncClient) -> None:
    scan_id = await new_scan(client)
    preview = (await client.get(f"/analysis/orders/preview/{scan_id}")).json()
    assert preview["scan_id"] == scan_id
    aapl, msft = preview["orders"]
    assert (aapl["symbol"], aapl["side"], aapl["order_type"], aapl["position_size"]) == (
        "AAPL",
        "Buy",
        "Market",
        50,
    )
    assert aapl["investment"] == 10000 and aapl["risk"] == {"approved": True, "reasons": []}
    assert msft["side"] == "Sell" and msft["position_size"] == 24
    assert preview["totals"]["orders"] == 2 and preview["totals"]["approved"] == 2


async def test_place_stores_the_batch_writes_the_file_and_reports_delivery(client: httpx.AsyncClient) -> None:
    scan_id = await new_scan(client)
    answer = await client.post(
        "/analysis/orders/place-modified-orders",
        json={"scan_id": scan_id, "modified_orders": [{"symbol": "AAPL", "position_size": 150}]},
    )
    assert answer.status_code == 201, answer.text
    placed = answer.json()
    assert [(o["symbol"], o["position_size"]) for o in placed["orders"]] == [("AAPL", 150), ("MSFT", 24)]
    assert placed["delivery"]["state"] in ("delivered", "queued") and len(placed["delivery"]["seqs"]) == 1
    batch = (await client.get(f"/analysis/orders/batches/{placed['batch_id']}")).json()
    assert len(batch["legs"]) == 6 and {leg["status"] for leg in batch["legs"]} == {"pending"}
    assert batch["orders"][0]["legs"]["entry"] == f"tb:{placed['batch_id']}:AAPL:E"
    download = await client.get(placed["file"]["download_url"])
    assert download.status_code == 200
    assert download.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = fastexcel.read_excel(io.BytesIO(download.content).getvalue()).load_sheet(0).to_polars()
    assert tuple(sheet.columns) == ORDER_FILE_COLUMNS
    assert sheet["Symbol"].to_list() == ["AAPL", "MSFT"] and sheet["Position"].to_list() == [150, 24]
    assert sheet["Transaction type"].to_list() == ["Buy", "Sell"]


async def test_a_size_of_zero_drops_the_symbol(client: httpx.AsyncClient) -> None:
    scan_id = await new_scan(client)
    answer = await client.post(
        "/analysis/orders/place-modified-orders",
        json={"scan_id": scan_id, "modified_orders": [{"symbol": "MSFT", "position_size": 0}]},
    )
    assert answer.status_code == 201 and [o["symbol"] for o in answer.json()["orders"]] == ["AAPL"]


@pytest.mark.parametrize(
    ("modified", "status", "words"),
    [
        ([{"symbol": "AAPL", "position_size": -5}], 400, ["whole number"]),
        ([{"symbol": "AAPL", "position_size": 1.5}], 400, ["whole number"]),
        ([{"symbol": "AAPL", "position_size": 1e300}], 400, ["too large"]),
        ([{"symbol": "AAPL", "position_size": 10**40}], 400, ["too large"]),
        ([{"symbol": "AAPL", "position_size": "many"}], 400, ["position_size"]),
        ([{"symbol": "TSLA", "position_size": 5}], 400, ["TSLA is not in scan"]),
        ([{"symbol": "AAPL", "position_size": 99999}], 400, ["rejected by risk"]),
        ([{"symbol": "AAPL", "qty": 5}], 400, ["qty"]),
        (
            [{"symbol": "AAPL", "position_size": 0}, {"symbol": "MSFT", "position_size": 0}],
            400,
            ["nothing to approve"],
        ),
    ],
)
async def test_bad_modifications_answer_4xx_saying_what_is_wrong(
    client: httpx.AsyncClient, modified: list[Any], status: int, words: list[str]
) -> None:
    scan_id = await new_scan(client)
    answer = await client.post(
        "/analysis/orders/place-modified-orders", json={"scan_id": scan_id, "modified_orders": modified}
    )
    assert answer.status_code == status, answer.text
    for word in words:
        assert word in answer.text


@pytest.mark.parametrize(
    "body",
    [
        {"scan_id": 999999},
        {"scan_id": 2**70},
        {"scan_id": "one"},
        {},
        {"scan_id": 1, "account": ""},
        {"scan_id": 1, "modified_orders": "AAPL"},
    ],
)
async def test_bad_place_requests_answer_4xx(client: httpx.AsyncClient, body: dict[str, Any]) -> None:
    answer = await client.post("/analysis/orders/place-modified-orders", json=body)
    assert answer.status_code in (400, 404), answer.text


async def test_the_idempotency_key_makes_retries_safe(client: httpx.AsyncClient, server: Server) -> None:
    scan_id = await new_scan(client)
    body = {"scan_id": scan_id, "modified_orders": [{"symbol": "AAPL", "position_size": 7}]}
    headers = {"Idempotency-Key": f"retry-{scan_id}"}
    first = await client.post("/analysis/orders/place-modified-orders", json=body, headers=headers)
    backlog = (await client.get("/health")).json()["outbox_backlog"]
    again = await client.post("/analysis/orders/place-modified-orders", json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 200
    assert again.json()["batch_id"] == first.json()["batch_id"] and again.json()["created"] is False
    assert (await client.get("/health")).json()["outbox_backlog"] == backlog  # nothing new queued
    other = await client.post(
        "/analysis/orders/place-modified-orders",
        json={**body, "modified_orders": [{"symbol": "AAPL", "position_size": 8}]},
        headers=headers,
    )
    assert other.status_code == 409 and first.json()["batch_id"] in other.json()["detail"]


async def test_the_openapi_document_lists_the_routes(client: httpx.AsyncClient) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    for path in (
        "/analysis/scans",
        "/analysis/scans/{scan_id}",
        "/analysis/orders/preview/{scan_id}",
        "/analysis/orders/place-modified-orders",
        "/analysis/orders/batches/{batch_id}",
        "/analysis/orders/files/{name}",
        "/health",
    ):
        assert path in document["paths"], path


def test_too_many_requests_answer_429(tmp_path: Path) -> None:
    with (
        running_server(server_settings(tmp_path, rate_limit_per_minute=3)) as limited,
        httpx.Client(base_url=limited.http, headers=AUTH) as http,
    ):
        codes = [http.get("/analysis/scans").status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[-1] == 429


def test_a_body_above_the_cap_is_refused(tmp_path: Path) -> None:
    with (
        running_server(server_settings(tmp_path, max_body_bytes=4096)) as capped,
        httpx.Client(base_url=capped.http, headers=AUTH) as http,
    ):
        rows = [{**SCAN["rows"][0], "symbol": f"S{i}"} for i in range(200)]  # type: ignore[dict-item]
        answer = http.post("/analysis/scans", json={"rows": rows})
    assert answer.status_code == 413


def test_a_generated_token_is_stored_with_mode_0600_and_reused(tmp_path: Path) -> None:
    from entrypoints.cloud.auth import TOKEN_FILE, load_tokens

    book = load_tokens((), tmp_path, announce=False)
    token = (tmp_path / TOKEN_FILE).read_text().strip()
    assert (tmp_path / TOKEN_FILE).stat().st_mode & 0o777 == 0o600
    assert book.accepts(token) and not book.accepts("other")
    assert load_tokens((), tmp_path, announce=False).accepts(token)


def test_allowed_hosts_and_cors_apply_only_when_configured(tmp_path: Path) -> None:
    origin = {"Origin": "https://evil.example"}
    with (
        running_server(server_settings(tmp_path / "open")) as plain,
        httpx.Client(base_url=plain.http, headers=AUTH) as http,
    ):
        answer = http.get("/analysis/scans", headers=origin)
        assert answer.status_code == 200 and "access-control-allow-origin" not in answer.headers
    settings = server_settings(
        tmp_path / "strict", allowed_hosts=("api.example.com",), cors_origins=("https://app.example.com",)
    )
    with running_server(settings) as strict, httpx.Client(base_url=strict.http, headers=AUTH) as http:
        assert http.get("/analysis/scans").status_code == 400  # Host 127.0.0.1 is not allowed
        allowed = http.get(
            "/analysis/scans", headers={"Host": "api.example.com", "Origin": "https://app.example.com"}
        )
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"


def test_the_order_file_is_written_after_the_answer_and_a_queued_one_on_shutdown(tmp_path: Path) -> None:
    from dependency_injector import providers

    from entrypoints.cloud.order_files import DeferredOrderFiles
    from entrypoints.container import CloudContainer

    settings = server_settings(tmp_path)
    container = CloudContainer(settings=settings)
    # Never quiet long enough, and no deadline within the test: only shutdown writes the file.
    container.files.override(
        providers.Singleton(DeferredOrderFiles, container.disk_files, container.activity, 3600.0, 3600.0)
    )
    with (
        running_server(settings, container) as running,
        httpx.Client(base_url=running.http, headers=AUTH) as http,
    ):
        scan_id = http.post("/analysis/scans", json=SCAN).json()["scan_id"]
        placed = http.post("/analysis/orders/place-modified-orders", json={"scan_id": scan_id}).json()
        name = placed["file"]["name"]
        url = f"/analysis/orders/files/{name}"
        assert placed["file"] == {"name": name, "download_url": url, "error": None}
        assert not (settings.files_dir / name).exists()  # the answer did not wait for the workbook
    assert (settings.files_dir / name).exists()
    sheet = fastexcel.read_excel((settings.files_dir / name).read_bytes()).load_sheet(0).to_polars()
    assert sheet["Symbol"].to_list() == ["AAPL", "MSFT"]
