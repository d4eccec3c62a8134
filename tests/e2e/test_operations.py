"""What an operator sees of a running worker: metrics, health, JSON logs, traces."""

import json
import random
import re

import aiohttp
import pytest

from tests.e2e.amqp import COMMANDS, QUERIES, RawClient, header, json_body, new_id
from tests.e2e.conftest import WorkerProcess

pytestmark = pytest.mark.e2e

ORDER = {
    "customer_name": "Otto",
    "pizzas": [{"name": "margherita", "size": "small"}],
}


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    return {"PIZZERIA_LOG_FORMAT": "json", "PIZZERIA_TRACING": "console"}


def endpoint(worker: WorkerProcess) -> str:
    found = re.search(r"operator endpoints on (http://[0-9.]+:[0-9]+/)", worker.log)
    assert found, worker.log
    return found.group(1)


def phone() -> str:
    return f"+1{random.randrange(10**9, 10**10)}"


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


async def test_liveness_and_readiness_answer_over_http(worker: WorkerProcess) -> None:
    live_status, _ = await get(endpoint(worker) + "health/live")
    ready_status, ready = await get(endpoint(worker) + "health/ready")

    assert live_status == 200
    assert ready_status == 200
    assert json.loads(ready) == {
        "status": "ready",
        "checks": {"rabbitmq": True, "mongodb": True, "outbox": True},
    }


async def test_metrics_count_messages_by_outcome_and_round_trips(
    client: RawClient, worker: WorkerProcess
) -> None:
    placed = await client.call(COMMANDS, "orders.place", json_body(**ORDER, customer_phone=phone()))
    missing = await client.call(QUERIES, "orders.get", json_body(order_id=new_id()))
    broken = await client.call(COMMANDS, "orders.place", b"{not json")
    assert (placed.status, missing.status, broken.status) == (201, 404, 400)

    status, page = await get(endpoint(worker) + "metrics")

    assert status == 200
    assert 'pizzeria_messages_total{name="orders.place",outcome="ok",status="201"}' in page
    assert 'pizzeria_messages_total{name="orders.get",outcome="rejected",status="404"}' in page
    assert 'pizzeria_dead_letters_total{reason="invalid-json"}' in page
    assert 'pizzeria_broker_publishes_total{kind="event"}' in page
    assert re.search(r'pizzeria_database_commands_total\{command="insert"\} [1-9]', page)
    assert "pizzeria_message_duration_seconds_bucket" in page
    assert "pizzeria_outbox_backlog_documents" in page


async def test_a_trace_context_sent_in_is_continued_on_the_events(
    client: RawClient, worker: WorkerProcess
) -> None:
    events = await client.watch_events("orders.#")
    trace_id, parent = new_id(), new_id()[:16]
    correlation_id = new_id()

    reply = await client.call(
        COMMANDS,
        "orders.place",
        json_body(**ORDER, customer_phone=phone()),
        correlation_id=correlation_id,
        headers={"traceparent": f"00-{trace_id}-{parent}-01"},
    )
    assert reply.status == 201
    arrived = await events.collect(lambda m: m.correlation_id == correlation_id, count=2)

    for event in arrived:
        version, event_trace, span, flags = str(header(event, "traceparent")).split("-")
        assert (version, event_trace, flags) == ("00", trace_id, "01")
        assert span != parent  # a span of the worker's, under the caller's


async def test_each_message_is_one_json_log_line_with_its_ids(
    client: RawClient, worker: WorkerProcess
) -> None:
    message_id, correlation_id = new_id(), new_id()
    await client.call(
        QUERIES,
        "orders.get",
        json_body(order_id=new_id()),
        message_id=message_id,
        correlation_id=correlation_id,
    )

    logged = [json.loads(line) for line in worker.log.splitlines() if line.startswith('{"event"')]
    lines = [
        line
        for line in logged
        if line["logger"] == "worker.messages" and line.get("message_id") == message_id
    ]

    assert len(lines) == 1
    assert lines[0]["message_name"] == "orders.get"
    assert lines[0]["correlation_id"] == correlation_id
    assert (lines[0]["outcome"], lines[0]["status"]) == ("rejected", 404)
    assert lines[0]["duration_ms"] > 0
