"""The out-of-process control API: a JSON-lines socket and its small synchronous client.

Each request is one line `{"op": "<name>", "args": {...}}`; each answer is one line,
`{"ok": true, "result": ...}` or `{"ok": false, "error": "<what was wrong>"}`. Decimals travel as
strings. The operations mirror `FakeTWS`:

    ping, set_price(symbol, price), reject_next_order(code, reason),
    reject_order(order_ref, code, reason), skip_next_order_status(count),
    set_delay(seconds), set_partial_fill(quantity|null), drop_connections(client_id|null),
    send_error(code, message), set_unknown_symbols_error(enabled), set_known_symbols(symbols),
    orders, executions, positions, requests, messages_per_second_max, connected_client_ids
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fake_tws.fake import FakeTWS

log = logging.getLogger("tests.fake_tws")
Operation = Callable[[dict[str, Any]], object]


def operations(fake: FakeTWS) -> dict[str, Operation]:
    """The control operations, by name, bound to one fake."""
    return {
        "ping": lambda a: "pong",
        "set_price": lambda a: fake.set_price(a["symbol"], str(a["price"])),
        "reject_next_order": lambda a: fake.reject_next_order(int(a.get("code", 201)), a.get("reason", "")),
        "reject_order": lambda a: fake.reject_order(
            a["order_ref"], int(a.get("code", 201)), a.get("reason", "")
        ),
        "skip_next_order_status": lambda a: fake.skip_next_order_status(int(a.get("count", 1))),
        "set_delay": lambda a: fake.set_delay(float(a["seconds"])),
        "set_partial_fill": lambda a: fake.set_partial_fill(
            None if a.get("quantity") is None else str(a["quantity"])
        ),
        "drop_connections": lambda a: fake.drop_connections(a.get("client_id")),
        "send_error": lambda a: fake.send_error(int(a["code"]), a.get("message", "")),
        "set_unknown_symbols_error": lambda a: fake.set_unknown_symbols_error(bool(a.get("enabled", True))),
        "set_known_symbols": lambda a: fake.set_known_symbols(list(a["symbols"])),
        "orders": lambda a: [o.as_dict() for o in fake.orders],
        "executions": lambda a: [e.as_dict() for e in fake.executions],
        "positions": lambda a: [p.as_dict() for p in fake.positions],
        "requests": lambda a: [list(r) for r in fake.requests],
        "messages_per_second_max": lambda a: fake.messages_per_second_max,
        "connected_client_ids": lambda a: fake.connected_client_ids,
    }


class ControlServer:
    """Serves the control operations of one fake on a local socket."""

    def __init__(self, fake: FakeTWS) -> None:
        self._operations = operations(fake)
        self._server: asyncio.Server | None = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        """Listen; return the bound port."""
        self._server = await asyncio.start_server(self._serve, host, port)
        return int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def answer(self, line: bytes) -> dict[str, object]:
        """The answer to one request line."""
        try:
            request = json.loads(line)
            name = request["op"]
            operation = self._operations.get(name)
            if operation is None:
                return {"ok": False, "error": f"unknown op {name!r}; known: {sorted(self._operations)}"}
            return {"ok": True, "result": operation(request.get("args") or {})}
        except Exception as exc:  # every failure goes back to the test that asked
            log.warning("control request %r failed: %s", line[:200], exc)
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while line := await reader.readline():
                writer.write(json.dumps(self.answer(line)).encode() + b"\n")
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()


class ControlError(RuntimeError):
    """The fake refused a control request; the message says why."""


class FakeTWSControl:
    """A blocking client of the control socket, for tests that run the fake as a subprocess."""

    def __init__(self, host: str, port: int, timeout: float = 10.0) -> None:
        self._socket = socket.create_connection((host, port), timeout=timeout)
        self._file = self._socket.makefile("rwb")

    def __enter__(self) -> FakeTWSControl:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the control connection (the fake keeps running)."""
        self._file.close()
        self._socket.close()

    def call(self, op: str, **args: object) -> Any:
        """Run one operation and return its result; raise ControlError when it failed."""
        self._file.write(json.dumps({"op": op, "args": args}).encode() + b"\n")
        self._file.flush()
        line = self._file.readline()
        if not line:
            raise ControlError(f"the fake TWS closed the control connection during {op!r}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise ControlError(answer["error"])
        return answer["result"]

    def ping(self) -> bool:
        """Whether the fake answers."""
        return bool(self.call("ping") == "pong")

    def set_price(self, symbol: str, price: object) -> None:
        """Set a stock's last price (ticks, fills, pushes)."""
        self.call("set_price", symbol=symbol, price=str(price))

    def reject_order(self, order_ref: str, code: int = 201, reason: str = "") -> None:
        """Reject an order the fake already holds (e.g. 201 on a live stop), as TWS does."""
        self.call("reject_order", order_ref=order_ref, code=code, reason=reason)

    def reject_next_order(self, code: int = 201, reason: str = "") -> None:
        """Reject the next new order with `code`."""
        self.call("reject_next_order", code=code, reason=reason)

    def skip_next_order_status(self, count: int = 1) -> None:
        """Drop the next `count` ORDER_STATUS messages."""
        self.call("skip_next_order_status", count=count)

    def set_delay(self, seconds: float) -> None:
        """Delay every message to clients."""
        self.call("set_delay", seconds=seconds)

    def set_partial_fill(self, quantity: object | None) -> None:
        """Fill at most `quantity` shares per order per matching pass (None: completely)."""
        self.call("set_partial_fill", quantity=None if quantity is None else str(quantity))

    def drop_connections(self, client_id: int | None = None) -> int:
        """Cut one client's connection, or all; return how many."""
        return int(self.call("drop_connections", client_id=client_id))

    def send_error(self, code: int, message: str = "") -> None:
        """Send an error with reqId -1 to every client (1100 / 1101 / 1102)."""
        self.call("send_error", code=code, message=message)

    def set_unknown_symbols_error(self, enabled: bool = True) -> None:
        """Answer error 200 for symbols that are not known."""
        self.call("set_unknown_symbols_error", enabled=enabled)

    def set_known_symbols(self, symbols: list[str]) -> None:
        """Make exactly these symbols known."""
        self.call("set_known_symbols", symbols=symbols)

    def orders(self) -> list[dict[str, Any]]:
        """Every order (dicts with Decimals as strings)."""
        return list(self.call("orders"))

    def executions(self) -> list[dict[str, Any]]:
        """Every execution."""
        return list(self.call("executions"))

    def positions(self) -> list[dict[str, Any]]:
        """Every non-flat position."""
        return list(self.call("positions"))

    def requests(self) -> list[tuple[int, int, list[str]]]:
        """Every recorded request as (client_id, msg_id, fields)."""
        return [(int(c), int(m), list(f)) for c, m, f in self.call("requests")]

    def messages_per_second_max(self) -> int:
        """The peak per-client message rate."""
        return int(self.call("messages_per_second_max"))

    def connected_client_ids(self) -> list[int]:
        """Client ids with a live connection."""
        return [int(c) for c in self.call("connected_client_ids")]
