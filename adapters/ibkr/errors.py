"""IB error codes as domain rejections a person can act on: which order, what IB said, what to do.

`describe(code, text, order_ref)` gives an `IbProblem`; `broker_error(...)` turns it into the
core's `BrokerError`; `order_status_for(code)` says what the code means for the order it names
(REJECTED, CANCELLED, or nothing: a warning leaves the order as it was).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.order_status import OrderStatus
from core.ports import BrokerError


class ProblemKind(StrEnum):
    """How the adapter treats a code."""

    REJECTION = "rejection"  # the order is refused: REJECTED
    CANCELLATION = "cancellation"  # the order was cancelled by IB (or by our request): CANCELLED
    WARNING = "warning"  # logged; the order (if any) stays as it was
    CONNECTIVITY = "connectivity"  # TWS lost or regained its link to IB
    CONNECTION = "connection"  # our API connection itself was refused
    PACING = "pacing"  # too many messages: our pacing budget failed
    REQUEST = "request"  # a query failed (unknown symbol, no data)
    INFO = "info"  # farm notices and the like


@dataclass(frozen=True, slots=True)
class Advice:
    """What a code means and what to do about it."""

    kind: ProblemKind
    meaning: str
    action: str


ADVICE: dict[int, Advice] = {
    100: Advice(ProblemKind.PACING, "more than 50 messages per second reached TWS",
                "this is a bug in the adapter's pacing budget (45/s); report it, then retry the order"),
    103: Advice(ProblemKind.REJECTION, "duplicate order id or order reference",
                "the order is already at the broker: reconcile with open orders instead of resending"),
    104: Advice(ProblemKind.WARNING, "a filled order cannot be modified", "place a new order instead"),
    110: Advice(ProblemKind.REJECTION, "the price does not fit the minimum tick size",
                "round the limit/stop price to the instrument's tick (0.01 for most US stocks) and resend"),
    135: Advice(ProblemKind.WARNING, "the order to modify was not found", "reconcile open orders"),
    161: Advice(ProblemKind.WARNING, "the order is not in a cancellable state",
                "it has probably filled or been cancelled already; check its status"),
    162: Advice(ProblemKind.REQUEST, "historical data request failed",
                "check the symbol and market data permissions, or retry later"),
    200: Advice(ProblemKind.REJECTION, "no security definition found for the symbol",
                "check the symbol (US stocks on SMART in USD) or remove it from the scan"),
    201: Advice(ProblemKind.REJECTION, "the order was rejected by IB",
                "read IB's reason; fix the order and send it again"),
    202: Advice(ProblemKind.CANCELLATION, "the order was cancelled",
                "nothing to do if we asked for it; otherwise read IB's reason"),
    321: Advice(ProblemKind.WARNING, "TWS could not validate the request",
                "check read-only API mode in TWS (Global Configuration > API > Settings)"),
    326: Advice(ProblemKind.CONNECTION, "the client id is already in use by another API connection",
                "pick another TWS_CLIENT_ID (or stop the other program using it)"),
    354: Advice(ProblemKind.REQUEST, "market data is not subscribed",
                "subscribe to the market data in Account Management, or use delayed data"),
    502: Advice(ProblemKind.CONNECTION, "could not connect to TWS",
                "start TWS or IB Gateway and enable the API on that port"),
    504: Advice(ProblemKind.CONNECTION, "not connected", "connect first"),
    1100: Advice(ProblemKind.CONNECTIVITY, "TWS lost its connection to IB",
                 "wait: orders may change at IB without us hearing until 1101/1102"),
    1101: Advice(ProblemKind.CONNECTIVITY, "TWS reconnected to IB; market data subscriptions were lost",
                 "reconcile orders and resubscribe market data"),
    1102: Advice(ProblemKind.CONNECTIVITY, "TWS reconnected to IB; data was kept", "reconcile orders"),
    10147: Advice(ProblemKind.WARNING, "the order to cancel was not found", "reconcile open orders"),
    10148: Advice(ProblemKind.WARNING, "the order can no longer be cancelled",
                  "it has filled or been cancelled already; check its status"),
    10167: Advice(ProblemKind.INFO, "showing delayed market data", "subscribe for live data if needed"),
}

MARGIN_WORDS = ("margin", "equity", "buying power", "insufficient")
CONNECTIVITY_CODES = frozenset({1100, 1101, 1102})


@dataclass(frozen=True, slots=True)
class IbProblem:
    """One IB error, explained."""

    code: int
    text: str
    order_ref: str | None
    kind: ProblemKind
    meaning: str
    action: str

    @property
    def message(self) -> str:
        """One line: which order, what IB said, what to do."""
        where = f"order {self.order_ref}: " if self.order_ref else ""
        said = f"IB error {self.code} ({self.text.strip() or self.meaning})"
        return f"{where}{said}: {self.meaning}; {self.action}"


def advice_for(code: int, text: str = "") -> Advice:
    """The advice for `code`; 201 with a margin reason says to reduce the size."""
    if code == 201 and any(word in text.lower() for word in MARGIN_WORDS):
        return Advice(ProblemKind.REJECTION, "the order was rejected for lack of margin",
                      "reduce the position size (or add funds) and send it again")
    if code in ADVICE:
        return ADVICE[code]
    if 2100 <= code < 2200:
        return Advice(ProblemKind.INFO, "TWS notice", "nothing to do")
    return Advice(ProblemKind.WARNING, "an IB message the adapter has no advice for",
                  "look the code up in IB's API message codes")


def describe(code: int, text: str = "", order_ref: str | None = None) -> IbProblem:
    """Explain one IB error."""
    advice = advice_for(code, text)
    return IbProblem(code, text, order_ref, advice.kind, advice.meaning, advice.action)


def broker_error(code: int, text: str = "", order_ref: str | None = None) -> BrokerError:
    """The core's BrokerError for one IB error, with the code and order_ref attached."""
    return BrokerError(describe(code, text, order_ref).message, code=code, order_ref=order_ref)


def order_status_for(code: int) -> OrderStatus | None:
    """What an error means for the order it names; None leaves the order's status alone."""
    kind = advice_for(code).kind
    if kind is ProblemKind.REJECTION:
        return OrderStatus.REJECTED
    if kind is ProblemKind.CANCELLATION:
        return OrderStatus.CANCELLED
    return None


def refused_connection(host: str, port: int, why: str) -> BrokerError:
    """Nothing listens at host:port (or it hung up before the handshake)."""
    return BrokerError(
        f"cannot connect to TWS at {host}:{port} ({why}): start TWS or IB Gateway and enable the API "
        f"on port {port} (Global Configuration > API > Settings > Enable ActiveX and Socket Clients); "
        "TWS_HOST / TWS_PORT choose where to connect",
        code=502,
    )


def client_id_in_use(client_id: int) -> BrokerError:
    """Error 326 at connect."""
    return BrokerError(
        f"TWS refused client id {client_id}: IB error 326, the client id is already in use by another API "
        "connection; pick another TWS_CLIENT_ID (or stop the other program using it)",
        code=326,
    )
