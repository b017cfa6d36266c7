"""JSON responses that write Decimal as a JSON number with its exact digits (never via float)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Response
from litestar.serialization import default_serializer
from litestar.types import Serializer


class DecimalNumberResponse(Response[Any]):
    """Litestar's Response, but money appears as `101.25`, not `"101.25"`."""

    def render(self, content: Any, media_type: str, enc_hook: Serializer = default_serializer) -> bytes:
        if media_type.startswith("application/json") and not isinstance(content, bytes | str):
            encoder = msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number")
            return encoder.encode(content)
        return super().render(content, media_type, enc_hook)
