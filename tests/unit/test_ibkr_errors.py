"""IB error codes as domain rejections: which order, what IB said, what to do."""

from __future__ import annotations

import pytest

from adapters.ibkr.errors import (
    ProblemKind,
    broker_error,
    client_id_in_use,
    describe,
    order_status_for,
    refused_connection,
)
from core.order_status import OrderStatus
from core.ports import BrokerError


@pytest.mark.parametrize(
    ("code", "text", "advice"),
    [
        (201, "Order rejected - reason: Insufficient margin", "reduce the position size"),
        (201, "Order rejected - reason: outside trading hours", "fix the order"),
        (110, "The price does not conform to the minimum price variation", "tick"),
        (103, "Duplicate order id", "reconcile"),
        (200, "No security definition has been found", "check the symbol"),
        (202, "Order Canceled - reason:", "cancelled"),
        (100, "Max rate of messages per second has been exceeded", "pacing budget"),
        (326, "Unable to connect as the client id is already in use", "TWS_CLIENT_ID"),
        (1100, "Connectivity between IB and Trader Workstation has been lost.", "wait"),
        (1101, "restored - data lost", "resubscribe"),
        (1102, "restored - data maintained", "reconcile"),
    ],
)
def test_each_code_says_what_to_do(code: int, text: str, advice: str) -> None:
    problem = describe(code, text, "B1.sl")
    assert problem.message.startswith("order B1.sl: ")
    assert f"IB error {code}" in problem.message and text in problem.message
    assert advice in problem.message


def test_broker_error_carries_code_and_order_ref() -> None:
    error = broker_error(110, "bad price", "E7")
    assert isinstance(error, BrokerError)
    assert (error.code, error.order_ref) == (110, "E7")
    assert "E7" in str(error) and "110" in str(error)


def test_what_codes_mean_for_the_order() -> None:
    for code in (103, 110, 200, 201):
        assert order_status_for(code) is OrderStatus.REJECTED
    assert order_status_for(202) is OrderStatus.CANCELLED
    for code in (104, 161, 10147, 10148, 2104, 1100, 326, 99999):
        assert order_status_for(code) is None  # the order keeps its state


def test_kinds() -> None:
    assert describe(2104).kind is ProblemKind.INFO
    assert describe(2158).kind is ProblemKind.INFO
    assert describe(1102).kind is ProblemKind.CONNECTIVITY
    assert describe(100).kind is ProblemKind.PACING
    assert describe(12345, "something new").kind is ProblemKind.WARNING
    assert "look the code up" in describe(12345, "something new").message


def test_an_error_without_an_order_names_none() -> None:
    assert not describe(1100, "lost").message.startswith("order")


def test_connection_errors_are_actionable() -> None:
    refused = refused_connection("127.0.0.1", 7497, "connection refused")
    assert "start TWS or IB Gateway" in str(refused) and "enable the API on port 7497" in str(refused)
    in_use = client_id_in_use(10)
    assert in_use.code == 326 and "pick another TWS_CLIENT_ID" in str(in_use) and "10" in str(in_use)
