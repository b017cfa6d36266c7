"""Wire framing of the TWS socket protocol: length-prefixed, NUL-terminated text fields.

After the 4 raw bytes `API\\0`, every message in both directions is a 4-byte big-endian length
followed by that many bytes of UTF-8 text; the text is a sequence of fields, each followed by a NUL.
The only exception is the client's version announcement (`v157..178`), which is framed but has no
trailing NUL. See tws_protocol.md §2 and §3.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

SERVER_VERSION = 178
"""The only server version the fake speaks; every layout here is pinned to it (spec §1)."""

API_PREFIX = b"API\0"
UNSET_INT = 2147483647
UNSET_DOUBLE = "1.7976931348623157E308"
"""The double sentinel as TWS writes it; ib_async maps it back to its own UNSET_DOUBLE."""

_LENGTH = struct.Struct(">I")
_VERSION_RANGE = re.compile(r"^v(\d+)\.\.(\d+)(?: (.*))?$")

Field = str | int | Decimal | bool | None
"""Anything an encoder may put into a message; see `field_text` for the conversion."""


def field_text(value: Field) -> str:
    """The wire text of one field: booleans as 1/0, None as empty, Decimals without exponent."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(int(value))  # plain digits even for IntEnum members
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def frame(payload: bytes) -> bytes:
    """Prefix a payload with its 4-byte big-endian length."""
    return _LENGTH.pack(len(payload)) + payload


def encode_message(fields: Iterable[Field]) -> bytes:
    """Encode one message: every field followed by a NUL, the whole payload length-prefixed."""
    texts = [field_text(value) for value in fields]
    for text in texts:
        if "\0" in text:
            raise ValueError(f"a field must not contain NUL: {text!r}")
    return frame("".join(text + "\0" for text in texts).encode())


class FrameBuffer:
    """Accumulates received bytes and yields complete messages as lists of field strings.

    TCP may deliver several frames in one read or split one frame across reads, so bytes are
    buffered until a whole frame is present.
    """

    def __init__(self) -> None:
        self._data = b""

    def feed(self, data: bytes) -> list[list[str]]:
        """Add received bytes; return every message now complete, in order."""
        self._data += data
        messages: list[list[str]] = []
        while len(self._data) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._data)
            end = _LENGTH.size + length
            if len(self._data) < end:
                break
            payload = self._data[_LENGTH.size : end]
            self._data = self._data[end:]
            messages.append(split_fields(payload))
        return messages


def split_fields(payload: bytes) -> list[str]:
    """Split one payload into its fields (the trailing NUL leaves an empty last element)."""
    fields = payload.decode(errors="backslashreplace").split("\0")
    if fields and fields[-1] == "":
        fields.pop()
    return fields


@dataclass(frozen=True, slots=True)
class VersionRange:
    """The client's announced protocol range and connect options (`v157..178 +PACEAPI`)."""

    minimum: int
    maximum: int
    options: str


def parse_version_range(payload: bytes) -> VersionRange:
    """Parse the client's version announcement; raise ValueError when it is not one."""
    match = _VERSION_RANGE.match(payload.decode(errors="replace").rstrip("\0"))
    if match is None:
        raise ValueError(f"not a TWS API version announcement: {payload[:40]!r}")
    return VersionRange(int(match.group(1)), int(match.group(2)), match.group(3) or "")


def negotiate_version(client: VersionRange) -> int:
    """The server version to answer with; raise ValueError when the client cannot speak 178."""
    if not client.minimum <= SERVER_VERSION <= client.maximum:
        raise ValueError(
            f"client speaks versions {client.minimum}..{client.maximum}; this fake TWS speaks only "
            f"{SERVER_VERSION} (pin ib-async==2.1.0 or extend the fake)"
        )
    return SERVER_VERSION


def handshake_reply(now: datetime) -> bytes:
    """The server's answer to the version announcement: exactly two fields, version and time."""
    return encode_message([SERVER_VERSION, now.strftime("%Y%m%d %H:%M:%S UTC")])
