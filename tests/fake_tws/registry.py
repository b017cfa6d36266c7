"""The live connections and the client id each one is bound to (one connection per client id)."""

from __future__ import annotations

from tests.fake_tws.connection import Session


class Registry:
    """Tracks sessions; a client id is bound by startApi and freed when its connection ends."""

    def __init__(self) -> None:
        self._sessions: list[Session] = []
        self._bound: dict[int, Session] = {}

    def add(self, session: Session) -> None:
        """A new connection (not yet bound to a client id)."""
        self._sessions.append(session)

    def remove(self, session: Session) -> None:
        """A connection ended: forget it and free its client id."""
        if session in self._sessions:
            self._sessions.remove(session)
        if session.client_id is not None and self._bound.get(session.client_id) is session:
            del self._bound[session.client_id]

    def holder(self, client_id: int) -> Session | None:
        """The live connection bound to `client_id`, if any."""
        return self._bound.get(client_id)

    def bind(self, session: Session, client_id: int) -> bool:
        """Bind `session` to `client_id`; False when another live connection holds it."""
        holder = self._bound.get(client_id)
        if holder is not None and holder is not session:
            return False
        session.client_id = client_id
        self._bound[client_id] = session
        return True

    def bound(self) -> list[Session]:
        """Every connection that completed startApi."""
        return list(self._bound.values())

    def all(self) -> list[Session]:
        """Every open connection, bound or not."""
        return list(self._sessions)
