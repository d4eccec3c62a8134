"""The operator console's routes, on a worker process: who gets in, what each page
shows, and that replay and purge go through confirmation, CSRF and the operator role."""

import asyncio
import random
import re
from collections.abc import AsyncIterator, Iterator

import pytest

from tests.conftest import fresh_vhost
from tests.e2e.amqp import COMMANDS, RawClient, json_body, new_id
from tests.e2e.conftest import WorkerProcess
from tests.e2e.console import (
    CONSOLE_ENV,
    OPERATOR_PASSWORD,
    VIEWER_PASSWORD,
    ConsoleClient,
    console_url,
)
from worker.entrypoints.console.pages import group_token

pytestmark = pytest.mark.e2e

BAD_JSON = group_token("invalid-json", "orders.place")


@pytest.fixture(scope="module")
def amqp_url(amqp_url: str) -> Iterator[str]:
    """A virtual host of its own: the dead letters listed are this module's only."""
    with fresh_vhost(amqp_url, "pizzeria-console") as url:
        yield url


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    return dict(CONSOLE_ENV)


CREATED: list[str] = []
"""The dead letters this module made: purged at its end, so the queue is left as found."""


@pytest.fixture(scope="module", autouse=True)
async def purge_what_we_made(worker: WorkerProcess) -> AsyncIterator[None]:
    yield
    cleaner = ConsoleClient(console_url(worker))
    try:
        assert (await cleaner.login(OPERATOR_PASSWORD)).status == 303
        form = [("id", message_id) for message_id in CREATED] + [("confirm", "yes")]
        assert (await cleaner.post("/dead-letters/purge", form)).status == 200
    finally:
        await cleaner.close()


@pytest.fixture
async def anonymous(worker: WorkerProcess) -> AsyncIterator[ConsoleClient]:
    client = ConsoleClient(console_url(worker))
    yield client
    await client.close()


@pytest.fixture
async def operator(anonymous: ConsoleClient) -> ConsoleClient:
    assert (await anonymous.login(OPERATOR_PASSWORD)).status == 303
    return anonymous


@pytest.fixture
async def viewer(worker: WorkerProcess) -> AsyncIterator[ConsoleClient]:
    client = ConsoleClient(console_url(worker))
    assert (await client.login(VIEWER_PASSWORD)).status == 303
    yield client
    await client.close()


async def dead_letter(client: RawClient, body: bytes = b"{not json") -> str:
    """A command the worker dead-letters at once (invalid JSON); its message id."""
    message_id = new_id()
    CREATED.append(message_id)
    await client.publish(COMMANDS, "orders.place", body, message_id=message_id)
    return message_id


async def until_listed(console: ConsoleClient, message_id: str, listed: bool = True) -> str:
    """The group's page once the letter is (or is no longer) in it."""
    for _ in range(50):
        status, page = await console.get(f"/dead-letters/group/{BAD_JSON}")
        assert status == 200, page
        if (message_id in page) == listed:
            return page
        await asyncio.sleep(0.2)
    raise AssertionError(f"{message_id} {'never' if listed else 'still'} listed:\n{page}")


async def test_every_page_asks_for_a_login_first(anonymous: ConsoleClient) -> None:
    for path in ("/", "/kitchen", "/conversation", "/status", f"/dead-letters/group/{BAD_JSON}"):
        response = await anonymous.response(path)
        assert response.status == 303, path
        assert response.headers["Location"].startswith("/login?next="), path
    status, _ = await anonymous.get("/fragments/dead-letters", **{"HX-Request": "true"})
    assert status == 401
    response = await anonymous.post("/dead-letters/purge", {"group": BAD_JSON}, csrf=False)
    assert response.status == 401


async def test_a_wrong_password_is_refused_and_sets_no_cookie(anonymous: ConsoleClient) -> None:
    response = await anonymous.login("not-" + OPERATOR_PASSWORD)
    assert response.status == 401
    assert anonymous.cookies() == {}
    assert (await anonymous.response("/")).status == 303


async def test_a_forged_session_cookie_is_refused(anonymous: ConsoleClient) -> None:
    anonymous.session.cookie_jar.update_cookies(
        {"pizzeria_console": f"operator.9999999999.{'0' * 32}.{'f' * 64}"}
    )
    assert (await anonymous.response("/")).status == 303


async def test_the_operator_endpoints_stay_open_for_scrapers(anonymous: ConsoleClient) -> None:
    assert (await anonymous.get("/metrics"))[0] == 200
    assert (await anonymous.get("/health/live"))[0] == 200


async def test_pages_come_with_a_content_security_policy(operator: ConsoleClient) -> None:
    response = await operator.response("/")
    assert response.status == 200
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


async def test_a_dead_letter_is_listed_in_its_group_and_shown_whole(
    operator: ConsoleClient, client: RawClient
) -> None:
    message_id = await dead_letter(client, b"{not json at all")
    await until_listed(operator, message_id)
    status, overview = await operator.get("/fragments/dead-letters")
    assert status == 200
    row = re.search(
        r'data-reason="invalid-json" data-name="orders.place">(.*?)</tr>', overview, re.S
    )
    assert row, overview
    assert int(re.search(r'class="n count">(\d+)<', row.group(1)).group(1)) >= 1  # type: ignore[union-attr]
    status, page = await operator.get(f"/dead-letters/letter/{message_id}")
    assert status == 200
    assert "{not json at all" in page
    assert "x-error-reason" in page
    assert "invalid-json" in page
    assert (await operator.get(f"/dead-letters/letter/{new_id()}"))[0] == 404


async def test_purge_asks_for_confirmation_then_removes_only_the_chosen(
    operator: ConsoleClient, client: RawClient
) -> None:
    chosen, other = await dead_letter(client), await dead_letter(client)
    await until_listed(operator, other)
    asked = await operator.post("/dead-letters/purge", {"id": chosen})
    assert asked.status == 200
    await until_listed(operator, chosen)  # a dry run: still there
    done = await operator.post("/dead-letters/purge", {"id": chosen, "confirm": "yes"})
    assert done.status == 200
    page = await until_listed(operator, chosen, listed=False)
    assert other in page


async def test_replay_publishes_the_letter_again_where_it_first_arrived(
    operator: ConsoleClient, client: RawClient
) -> None:
    message_id = await dead_letter(client)
    await until_listed(operator, message_id)
    watch = await client.watch_dead_letters()
    done = await operator.post("/dead-letters/replay", [("id", message_id), ("confirm", "yes")])
    assert done.status == 200
    # Still invalid JSON: the worker gets it again and dead-letters it again.
    again = await watch.collect(lambda m: m.message_id == message_id, 1, timeout=10)
    assert again[0].body == b"{not json"


async def test_an_action_without_the_csrf_token_is_refused(
    operator: ConsoleClient, client: RawClient
) -> None:
    message_id = await dead_letter(client)
    await until_listed(operator, message_id)
    form = {"id": message_id, "confirm": "yes"}
    assert (await operator.post("/dead-letters/purge", form, csrf=False)).status == 403
    wrong = [("id", message_id), ("confirm", "yes"), ("csrf", "0" * 64)]
    assert (await operator.post("/dead-letters/purge", wrong, csrf=False)).status == 403
    other_site = {"Origin": "http://elsewhere.example"}
    assert (await operator.post("/dead-letters/purge", form, headers=other_site)).status == 403
    await until_listed(operator, message_id)  # nothing was purged


async def test_the_viewer_sees_every_page_and_may_change_nothing(
    viewer: ConsoleClient, client: RawClient
) -> None:
    message_id = await dead_letter(client)
    page = await until_listed(viewer, message_id)
    assert "Purge selected" not in page
    for path in ("/", "/kitchen", "/conversation", "/status"):
        assert (await viewer.get(path))[0] == 200, path
    form = {"id": message_id, "confirm": "yes"}
    assert (await viewer.post("/dead-letters/purge", form)).status == 403
    assert (await viewer.post("/dead-letters/replay", form)).status == 403
    await until_listed(viewer, message_id)


async def test_the_kitchen_and_the_conversation_show_a_placed_order(
    operator: ConsoleClient, client: RawClient
) -> None:
    name = f"Kitchen Test {random.randrange(10**6)}"
    placed = await client.call(
        COMMANDS,
        "orders.place",
        json_body(
            customer_name=name,
            customer_phone=f"+39 3{random.randrange(10**8, 10**9)}",
            pizzas=[{"name": "margherita", "size": "small"}],
        ),
        correlation_id=(correlation := new_id()),
    )
    assert placed.status == 201, placed
    order_id = placed.body["data"]["id"]
    cooking = await client.call(COMMANDS, "orders.start-cooking", json_body(order_id=order_id))
    assert cooking.status == 200, cooking
    for _ in range(50):  # the read model follows the outbox
        status, kitchen = await operator.get("/fragments/kitchen")
        if name in kitchen and "status-cooking" in kitchen:
            break
        await asyncio.sleep(0.2)
    assert name in kitchen
    status, page = await operator.get(f"/conversation?order_id={order_id}")
    assert status == 200
    for expected in ("orders.place", "orders.start-cooking", correlation, "orders.placed"):
        assert expected in page, expected
    assert "orders.cooking-started" in page
    assert page.index("orders.place<") < page.index("orders.start-cooking")
    assert (await operator.get(f"/conversation?order_id={new_id()}"))[0] == 404


async def test_health_shows_the_connections_and_figures(operator: ConsoleClient) -> None:
    status, page = await operator.get("/fragments/status")
    assert status == 200
    for check in ("rabbitmq", "mongodb", "outbox"):
        assert f'class="tile ok" id="check-{check}"' in page, page
    assert 'id="dead-letters-rate"' in page


async def test_logging_out_ends_the_session(operator: ConsoleClient) -> None:
    assert (await operator.post("/logout", {})).status == 303
    assert (await operator.response("/")).status == 303
