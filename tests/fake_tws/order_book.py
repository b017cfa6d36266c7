"""Where the broker keeps orders: by (client id, order id), with family and OCA lookups."""

from __future__ import annotations

from collections.abc import Iterator

from tests.fake_tws.model import OrderRecord, Status

FIRST_PERM_ID = 1_000_000_001


class OrderBook:
    """All orders of all clients, in the order they were first placed (time priority)."""

    def __init__(self) -> None:
        self._orders: dict[tuple[int, int], OrderRecord] = {}
        self._next_perm_id = FIRST_PERM_ID

    def __iter__(self) -> Iterator[OrderRecord]:
        return iter(list(self._orders.values()))

    def get(self, client_id: int, order_id: int) -> OrderRecord | None:
        """The order a client placed under `order_id`."""
        return self._orders.get((client_id, order_id))

    def current(self, order: OrderRecord) -> OrderRecord:
        """The latest version of an order (records are replaced, never mutated)."""
        return self._orders[(order.client_id, order.order_id)]

    def put(self, order: OrderRecord) -> None:
        """Store a new order or replace its previous version."""
        self._orders[(order.client_id, order.order_id)] = order

    def new_perm_id(self) -> int:
        """A permanent id, unique across clients and reconnects."""
        perm_id = self._next_perm_id
        self._next_perm_id += 1
        return perm_id

    def highest_order_id(self) -> int:
        """The largest order id any client has used (0 when there is none)."""
        return max((order_id for _, order_id in self._orders), default=0)

    def family(self, client_id: int, root_id: int) -> list[OrderRecord]:
        """A parent and its children, by order id."""
        members = [
            o
            for o in self._orders.values()
            if o.client_id == client_id and root_id in (o.order_id, o.parent_id)
        ]
        return sorted(members, key=lambda o: o.order_id)

    def children(self, parent: OrderRecord) -> list[OrderRecord]:
        """The orders attached to `parent`, by order id."""
        return [o for o in self.family(parent.client_id, parent.order_id) if o.parent_id]

    def parent(self, child: OrderRecord) -> OrderRecord | None:
        """The parent of a child order, if it exists."""
        return self.get(child.client_id, child.parent_id) if child.parent_id else None

    def oca_siblings(self, order: OrderRecord) -> list[OrderRecord]:
        """Live orders that one-cancel-all with `order`: its OCA group, and its bracket siblings."""
        siblings = []
        for other in self._orders.values():
            if other is order or other.status.is_done or other.status == Status.PENDING_SUBMIT:
                continue
            same_group = bool(order.oca_group) and (other.account, other.oca_group) == (
                order.account,
                order.oca_group,
            )
            same_bracket = bool(order.parent_id) and (other.client_id, other.parent_id) == (
                order.client_id,
                order.parent_id,
            )
            if (same_group or same_bracket) and (other.client_id, other.order_id) != (
                order.client_id,
                order.order_id,
            ):
                siblings.append(other)
        return siblings
