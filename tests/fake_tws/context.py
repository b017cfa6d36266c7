"""What request handlers work with: the shared broker state and its feeds."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from tests.fake_tws.connection import Session
from tests.fake_tws.engine import Engine
from tests.fake_tws.faults import Faults
from tests.fake_tws.feeds import AccountFeed
from tests.fake_tws.instruments import InstrumentBook


@dataclass(frozen=True, slots=True)
class Context:
    """The fake broker as the handlers see it (one per FakeTWS, shared by all connections)."""

    engine: Engine
    instruments: InstrumentBook
    account_feed: AccountFeed
    accounts: list[str]
    faults: Faults
    clock: Callable[[], datetime]


Handler = Callable[[Context, Session, list[str]], None]
"""A request handler: the context, the connection it came on, and the message's fields."""
