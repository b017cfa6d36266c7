"""Bearer tokens: which tokens the service accepts, and the check on every HTTP request.

Tokens come from TRADEBRIDGE_API_TOKENS (comma-separated). Without any, the first start creates
one, stores it in `<data dir>/api_token` readable by the owner only (mode 0600) and prints it once;
later starts read it back. `GET /health` is the only open route; the WebSocket checks the token
itself at the handshake (to close with 1008, as INTERFACES.md asks).
"""

from __future__ import annotations

import hmac
import os
import secrets
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult, DefineMiddleware

TOKEN_FILE = "api_token"
OPEN_PATHS = ("^/health$",)
_HOW = (
    "send the header 'Authorization: Bearer <token>' (TRADEBRIDGE_API_TOKENS, or the token in the data dir)"
)


class TokenBook:
    """The accepted tokens, compared in constant time."""

    def __init__(self, tokens: Iterable[str]) -> None:
        self._tokens = tuple(token.encode() for token in tokens if token)
        if not self._tokens:
            raise ValueError("at least one API token is needed")

    def accepts(self, token: str | None) -> bool:
        if not token:
            return False
        given = token.encode()
        return any(hmac.compare_digest(given, known) for known in self._tokens)


def load_tokens(configured: Iterable[str], data_dir: Path, announce: bool = True) -> TokenBook:
    """The configured tokens, or the data dir's token (created with mode 0600 if missing)."""
    tokens = [token for token in configured if token]
    if tokens:
        return TokenBook(tokens)
    path = data_dir / TOKEN_FILE
    if path.exists():
        return TokenBook([path.read_text().strip()])
    data_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(token + "\n")
    if announce:
        print(
            f"tradebridge: created an API token (stored in {path}, mode 0600; shown only now):\n  {token}",
            file=sys.stderr,
            flush=True,
        )
    return TokenBook([token])


def bearer_token(headers: Mapping[str, str], query: Mapping[str, object] | None = None) -> str | None:
    """The token of `Authorization: Bearer <token>`, else of `?token=`, else None."""
    header = headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if query is not None:
        token = query.get("token")
        if isinstance(token, str) and token:
            return token
    return None


class BearerAuthMiddleware(AbstractAuthenticationMiddleware):
    """401 for an HTTP request without an accepted bearer token."""

    tokens: TokenBook

    async def authenticate_request(self, connection: ASGIConnection) -> AuthenticationResult:  # type: ignore[type-arg]
        token = bearer_token(connection.headers)
        if token is None:
            raise NotAuthorizedException(f"no API token: {_HOW}", headers={"WWW-Authenticate": "Bearer"})
        if not self.tokens.accepts(token):
            raise NotAuthorizedException(
                f"the API token is not accepted: {_HOW}", headers={"WWW-Authenticate": "Bearer"}
            )
        return AuthenticationResult(user="api", auth=token)


def auth_middleware(tokens: TokenBook) -> DefineMiddleware:
    """The middleware, checking HTTP requests (not the WebSocket, which checks itself)."""
    middleware = type("ConfiguredBearerAuth", (BearerAuthMiddleware,), {"tokens": tokens})
    return DefineMiddleware(middleware, exclude=list(OPEN_PATHS), scopes={ScopeType.HTTP})
