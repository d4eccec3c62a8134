"""A store may answer from its memory of its own last write, which another worker may
have overtaken: a refusal is only given once the stored order refuses too."""

import copy

from pizzeria_contracts import names
from tests.fakes import FakeOrders
from tests.unit.pizzeria import Pizzeria
from worker.application.ports import Loaded
from worker.domain.orders import Order


class RemembersAStaleOrder(FakeOrders):
    """Answers every load that is not `fresh` with the order as it was when `remember`
    was called, marked as remembered, and counts the fresh loads."""

    def __init__(self) -> None:
        super().__init__()
        self.stale: Order | None = None
        self.fresh_loads = 0

    def remember(self, order_id: str) -> None:
        self.stale = copy.deepcopy(self.items[order_id])

    async def load(
        self, aggregate_id: str, message_id: str = "", *, fresh: bool = False
    ) -> Loaded[Order] | None:
        if fresh:
            self.fresh_loads += 1
        elif self.stale is not None and self.stale.id == aggregate_id:
            return Loaded(copy.deepcopy(self.stale), {}, remembered=True)
        return await super().load(aggregate_id, message_id, fresh=fresh)


async def test_a_command_refused_by_a_stale_memory_is_decided_on_the_stored_order() -> None:
    orders = RemembersAStaleOrder()
    pizzeria = Pizzeria.open(orders=orders)
    order = await pizzeria.place()
    orders.remember(order["id"])  # confirmed, as this worker last saw it
    cooking = await pizzeria.command(names.START_COOKING, {"order_id": order["id"]})
    assert cooking.result.status == 200  # written over the stale version: reread, applied

    ready = await pizzeria.command(names.MARK_READY, {"order_id": order["id"]})

    assert ready.result.status == 200, ready.result
    assert ready.result.data["status"] == "ready"
    assert orders.fresh_loads == 1


async def test_a_refusal_the_stored_order_confirms_is_given() -> None:
    orders = RemembersAStaleOrder()
    pizzeria = Pizzeria.open(orders=orders)
    order = await pizzeria.place()
    orders.remember(order["id"])

    ready = await pizzeria.command(names.MARK_READY, {"order_id": order["id"]})

    assert ready.result.status == 409, ready.result
    assert orders.fresh_loads == 1
