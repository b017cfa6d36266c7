"""A fake TWS: an asyncio server speaking the TWS socket protocol at server version 178.

The unmodified ib_async 2.1.0 client connects to it, qualifies stocks, streams prices and bars,
and places, modifies and cancels orders that fill against a price the tests set. Faults (rejections,
dropped connections, connectivity errors, skipped statuses, delays, pacing violations) are injected
through `FakeTWS` in-process, or through the JSON-lines control socket and `FakeTWSControl` when the
fake runs as a subprocess (`python -m tests.fake_tws --port 0 --control-port 0`).

The wire layouts follow /work/shared/design/tws_protocol.md and ib_async's own decoder (BSD);
no code of IB's `ibapi` is used.
"""

from tests.fake_tws.control import FakeTWSControl
from tests.fake_tws.fake import FakeTWS
from tests.fake_tws.framing import SERVER_VERSION

__all__ = ["SERVER_VERSION", "FakeTWS", "FakeTWSControl"]
