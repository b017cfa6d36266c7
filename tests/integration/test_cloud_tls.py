"""`tradebridge serve --ssl-certfile/--ssl-keyfile`: https and wss with a certificate from a private
CA; a client that trusts the CA connects, one that does not is refused."""

from __future__ import annotations

import asyncio
import json
import shutil
import ssl
import subprocess
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import connect

from tests.integration.cloud_server import AUTH, running_server, server_settings


def make_certificates(directory: Path) -> tuple[Path, Path, Path]:
    """A private CA and a server certificate for 127.0.0.1 signed by it: (ca, cert, key)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed; install it (apt-get install openssl) to test TLS")

    def run(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=tradebridge test CA",
    )
    run(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    )
    (directory / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run(
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "server.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    )
    return directory / "ca.pem", directory / "server.pem", directory / "server.key"


def test_https_and_wss_with_a_private_ca(tmp_path: Path) -> None:
    ca, cert, key = make_certificates(tmp_path)
    trusting = ssl.create_default_context(cafile=str(ca))
    with running_server(
        server_settings(tmp_path / "data"), ssl_certfile=str(cert), ssl_keyfile=str(key)
    ) as server:
        with httpx.Client(base_url=f"https://{server.host_port}", verify=trusting, headers=AUTH) as http:
            assert http.get("/health").status_code == 200
        with (
            pytest.raises(httpx.ConnectError),
            httpx.Client(base_url=f"https://{server.host_port}") as untrusting,
        ):
            untrusting.get("/health")

        async def listen() -> dict[str, object]:
            async with connect(
                f"wss://{server.host_port}/listen_events", ssl=trusting, additional_headers=AUTH
            ) as ws:
                frame: dict[str, object] = json.loads(await asyncio.wait_for(ws.recv(), 10))
                return frame

        assert asyncio.run(listen())["event"] == "connected"
