"""The committed AsyncAPI document and JSON Schemas are the code's, and hang together."""

import ast
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pizzeria_contracts import COMMANDS, EVENTS, QUERIES, REPLIES, names
from pizzeria_contracts.spec import (
    asyncapi_document,
    drift,
    generated_files,
    json_schemas,
)
from worker.adapters.rabbit import topology

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS = REPO_ROOT / "docs"
REQUESTS = {"command": COMMANDS, "query": QUERIES}


def references(node: Any, where: str = "#") -> Iterator[tuple[str, str]]:
    """Every `$ref` in a JSON document, with the pointer of the object holding it."""
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield where, node["$ref"]
        for key, value in node.items():
            yield from references(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from references(value, f"{where}/{index}")


def resolve(document: Any, ref: str) -> Any:
    """The node a local JSON pointer reference (`#/a/b`) points at; KeyError if none."""
    if not ref.startswith("#/"):
        raise KeyError(f"not a local reference: {ref}")
    node = document
    for raw in ref[2:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(part)]
        elif isinstance(node, dict) and part in node:
            node = node[part]
        else:
            raise KeyError(ref)
    return node


def unresolved(document: Any) -> list[str]:
    broken = []
    for where, ref in references(document):
        try:
            resolve(document, ref)
        except (KeyError, IndexError, ValueError):
            broken.append(f"{where}: {ref}")
    return broken


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document()


def test_the_committed_documents_are_what_the_code_generates() -> None:
    drifted = drift(DOCS)

    assert not drifted, (
        "docs/ differs from the contract's code; run scripts/gen-docs and commit the result:\n  "
        + "\n  ".join(drifted)
    )


def test_generating_twice_gives_the_same_text() -> None:
    assert generated_files() == generated_files()


def test_the_document_is_asyncapi_3_for_contract_v1(document: dict[str, Any]) -> None:
    assert document["asyncapi"] == "3.0.0"
    assert document["info"]["version"] == "1.0.0"
    assert document["servers"]["rabbitmq"]["protocol"] == "amqp"


def test_every_reference_of_the_asyncapi_document_resolves(document: dict[str, Any]) -> None:
    assert list(references(document)), "the document should use references"
    assert unresolved(document) == []


@pytest.mark.parametrize("path", sorted(json_schemas()))
def test_every_reference_of_a_json_schema_resolves(path: str) -> None:
    assert unresolved(json_schemas()[path]) == []


def test_every_message_is_sent_or_received_by_an_operation(document: dict[str, Any]) -> None:
    used = set()
    for key, operation in document["operations"].items():
        channel = operation["channel"]["$ref"]
        reply = operation.get("reply", {})
        for message in operation["messages"]:
            assert message["$ref"].startswith(f"{channel}/messages/"), key
            used.add(resolve(document, message["$ref"])["$ref"])
        for message in reply.get("messages", []):
            assert message["$ref"].startswith(f"{reply['channel']['$ref']}/messages/"), key
            used.add(resolve(document, message["$ref"])["$ref"])

    defined = {f"#/components/messages/{key}" for key in document["components"]["messages"]}
    assert used == defined


@pytest.mark.parametrize("kind", ["command", "query"])
def test_every_command_and_query_is_sent_with_its_reply(
    document: dict[str, Any], kind: str
) -> None:
    messages = document["components"]["messages"]
    for name, model in REQUESTS[kind].items():
        operation = document["operations"][f"{kind}.{name}"]
        assert operation["action"] == "send"
        assert resolve(document, operation["messages"][0]["$ref"]) == {
            "$ref": f"#/components/messages/{kind}.{name}"
        }
        assert resolve(document, operation["reply"]["messages"][0]["$ref"]) == {
            "$ref": f"#/components/messages/reply.{name}"
        }
        request, reply = messages[f"{kind}.{name}"], messages[f"reply.{name}"]
        assert (request["name"], reply["name"]) == (name, name)
        assert resolve(document, request["payload"]["$ref"])["title"] == model.__name__
        envelope = resolve(document, reply["payload"]["$ref"])
        data = resolve(document, envelope["properties"]["data"]["$ref"])
        assert data["title"] == REPLIES[name].__name__


def test_every_event_is_received(document: dict[str, Any]) -> None:
    channel = document["channels"]["events"]
    assert channel["parameters"]["name"]["enum"] == list(EVENTS)
    for name, model in EVENTS.items():
        assert document["operations"][f"event.{name}"]["action"] == "receive"
        message = document["components"]["messages"][f"event.{name}"]
        assert message["name"] == name
        assert message["bindings"]["amqp"]["messageType"] == name
        assert resolve(document, message["payload"]["$ref"])["title"] == model.__name__


def test_every_catalogue_name_has_its_json_schemas() -> None:
    files = json_schemas()
    expected = {
        *(f"commands/{name}.json" for name in COMMANDS),
        *(f"queries/{name}.json" for name in QUERIES),
        *(f"replies/{name}.json" for name in [*COMMANDS, *QUERIES]),
        *(f"events/{name}.json" for name in EVENTS),
        "operation-result.json",
    }
    assert set(files) == expected
    for path, schema in files.items():
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema", path


@pytest.mark.parametrize(
    ("channel", "exchange"),
    [
        ("commands", topology.COMMANDS),
        ("queries", topology.QUERIES),
        ("events", topology.EVENTS),
        ("dead-letter", topology.DEAD_LETTER),
    ],
)
def test_the_channels_describe_the_exchanges_the_worker_declares(
    document: dict[str, Any], channel: str, exchange: Any
) -> None:
    described = document["channels"][channel]
    binding = described["bindings"]["amqp"]["exchange"]

    assert (binding["name"], binding["type"], binding["durable"]) == (
        exchange.name,
        str(exchange.type.value),
        exchange.durable,
    )
    assert described.get("x-amqp-exchange-arguments") == (exchange.arguments or None)


def test_the_dead_letter_reasons_are_those_the_worker_gives(document: dict[str, Any]) -> None:
    given = set()
    for path in (REPO_ROOT / "worker").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            callee = getattr(node.func, "id", getattr(node.func, "attr", ""))
            values = [k.value for k in node.keywords if k.arg == "dead_letter"]
            if callee == "invalid" and node.args:
                values.append(node.args[0])
            given |= {v.value for v in values if isinstance(v, ast.Constant)}
    header = document["components"]["messages"]["dead-letter"]["headers"]["properties"]

    assert given == set(names.DEAD_LETTER_REASONS)
    assert header[names.ERROR_REASON_HEADER]["anyOf"][0]["enum"] == list(names.DEAD_LETTER_REASONS)


def test_the_committed_asyncapi_document_is_json_with_sorted_keys() -> None:
    text = (DOCS / "asyncapi.json").read_text(encoding="utf-8")

    assert text == json.dumps(json.loads(text), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
