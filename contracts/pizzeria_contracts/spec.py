"""The contract as documents: an AsyncAPI 3.0 description and a JSON Schema per message.

Both are generated from the models of this package (pydantic only, no worker
code) and committed under `docs/`; a test fails when they drift.

    python -m pizzeria_contracts.spec --write docs   # regenerate (scripts/gen-docs)
    python -m pizzeria_contracts.spec --check docs   # exit 1, listing drifted files

The AsyncAPI document is written from a client's point of view: it *sends*
commands and queries (and receives their replies) and *receives* events.
"""

import argparse
import inspect
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Literal

from pydantic.json_schema import JsonSchemaMode, models_json_schema

from . import names
from .base import WireModel
from .catalogue import COMMANDS, EVENTS, QUERIES, REPLIES
from .results import TITLES, FieldError

Schema = dict[str, Any]
Kind = Literal["command", "query", "reply", "event"]

CONTRACT_VERSION: Final = "1.0.0"
AMQP_BINDING_VERSION: Final = "0.3.0"
JSON_SCHEMA_DIALECT: Final = "https://json-schema.org/draft/2020-12/schema"
JSON: Final = "application/json"
GENERATED: Final = "Generated from pizzeria_contracts by scripts/gen-docs: do not edit."
SECTIONS: Final[dict[Kind, str]] = {
    "command": "commands",
    "query": "queries",
    "reply": "replies",
    "event": "events",
}

DESCRIPTION: Final = f"""\
The order service of Mario's Pizzeria, a CQRS worker on RabbitMQ (AMQP 0-9-1).
This document describes it from a client's side: a client *sends* commands to
`{names.COMMANDS_EXCHANGE}` and queries to `{names.QUERIES_EXCHANGE}` (routing key =
the message's name) and gets the reply on its `reply_to`; it *receives* domain
events from the topic exchange `{names.EVENTS_EXCHANGE}` by binding a queue of its own.

Conventions: bodies are UTF-8 JSON (`content_type: {JSON}`); money is a decimal
string with two places (`"12.99"`); times are RFC 3339 in UTC; ids are strings.
Readers are tolerant: unknown fields are ignored, so v1 only grows by additions
(new optional fields, new messages, new events). A breaking change gets a new
name (`orders.place.v2`) and both are served for a while. Policy: docs/schema-policy.md.

A command needs `message_id`, its idempotency key: re-sending it returns the
original reply. A query needs `reply_to` and should carry `expiration` (ms).
Every reply carries the request's `correlation_id` (or its `message_id`), the
header `status`, and an operation result: `data` on success; `title`, `detail`
and per-field `errors` on failure. Events are CloudEvents 1.0 in binary mode
(`cloudEvents:*` headers); deduplicate them by `message_id`. What the worker
cannot process lands in `{names.DEAD_LETTER_QUEUE}` with `x-error-reason`.
"""


def _doc(model: type[WireModel]) -> str:
    return inspect.cleandoc(model.__doc__ or "").split("\n\n")[0].replace("\n", " ")


def _bundle(
    models: Iterable[tuple[type[WireModel], JsonSchemaMode]], ref_template: str
) -> tuple[dict[tuple[object, str], Schema], Schema]:
    """Schemas of (model, mode) pairs: a reference to each, and every definition by name."""
    found, top = models_json_schema(list(dict.fromkeys(models)), ref_template=ref_template)
    refs: dict[tuple[object, str], Schema] = {key: ref for key, ref in found.items()}
    return refs, top.get("$defs", {})


def _messages() -> list[tuple[Kind, str, type[WireModel], JsonSchemaMode]]:
    """Every message of the catalogue in a stable order: kind, name, model, schema mode."""
    found: list[tuple[Kind, str, type[WireModel], JsonSchemaMode]] = []
    found += [("command", name, model, "validation") for name, model in COMMANDS.items()]
    found += [("query", name, model, "validation") for name, model in QUERIES.items()]
    found += [("reply", name, REPLIES[name], "serialization") for name in [*COMMANDS, *QUERIES]]
    found += [("event", name, model, "serialization") for name, model in EVENTS.items()]
    return found


STATUS: Final[Schema] = {
    "type": "integer",
    "enum": sorted(TITLES),
    "description": "As in HTTP: 200 answered or changed, 201 created, 400 invalid, "
    "401/403 not allowed, 404 not found, 409 not in this state, 500 failed. "
    "Below 400 is a success.",
}


def result_schema(data: Schema, field_error: Schema, title: str) -> Schema:
    """The operation result, the body of every reply, with `data` as given."""
    return {
        "title": title,
        "description": "An operation result: `data` on success; `title`, `detail` and "
        "`errors` (invalid fields) on failure. Members without a value are left out.",
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": STATUS,
            "data": data,
            "title": {"type": "string", "description": "The status's name, on failure."},
            "detail": {"type": "string", "description": "What went wrong, on failure."},
            "errors": {
                "type": "array",
                "items": field_error,
                "description": "One per invalid field, with its dotted path.",
            },
        },
        "if": {"properties": {"status": {"maximum": 399}}},
        "then": {"required": ["data"]},
        "else": {"required": ["detail"]},
    }


def _text(description: str, **more: Any) -> Schema:
    return {"type": "string", "description": description, **more}


TRACEPARENT: Final = _text(
    "W3C trace context, continued by the worker and carried onto events.",
    pattern="^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
)


def _headers(kind: Kind) -> Schema:
    """The message's AMQP headers table (application headers)."""
    if kind == "reply":
        return {"type": "object", "required": ["status"], "properties": {"status": STATUS}}
    if kind != "event":
        return {"type": "object", "properties": {names.TRACEPARENT_HEADER: TRACEPARENT}}
    cloud_events = {
        "specversion": {"const": "1.0"},
        "id": _text("The event's id, equal to message_id."),
        "source": {"const": names.EVENT_SOURCE},
        "type": _text("The event's name, also its routing key."),
        "subject": _text("The aggregate's id (order id, customer id or pizza name)."),
        "time": _text("When it happened, RFC 3339 in UTC.", format="date-time"),
        "datacontenttype": {"const": JSON},
    }
    properties = {f"cloudEvents:{key}": value for key, value in cloud_events.items()}
    return {
        "type": "object",
        "required": sorted(properties),
        "properties": {**properties, names.TRACEPARENT_HEADER: TRACEPARENT},
    }


def _properties(kind: Kind) -> Schema:
    """The message's AMQP basic properties (not headers), as the `x-amqp-properties` extension."""
    content_type = {"const": JSON, "description": "The body's media type."}
    if kind == "command":
        required = ["message_id"]
        properties: Schema = {
            "message_id": _text("Required: the idempotency key, executed at most once."),
            "correlation_id": _text(
                "Echoed on the reply and carried onto the events it causes; defaults to message_id."
            ),
            "reply_to": _text("Where the reply goes: a queue or amq.rabbitmq.reply-to."),
            "delivery_mode": {"enum": [1, 2], "description": "2 (persistent) recommended."},
            "user_id": _text("Validated by RabbitMQ against the connection's user."),
            "content_type": content_type,
        }
    elif kind == "query":
        required = ["reply_to"]
        properties = {
            "reply_to": _text("Required: a queue or amq.rabbitmq.reply-to."),
            "correlation_id": _text("Recommended: echoed on the reply."),
            "expiration": _text(
                "Your timeout in milliseconds; an expired query is dropped unanswered.",
                pattern="^[0-9]+$",
            ),
            "message_id": _text("Optional; the reply's correlation_id when there is none."),
            "content_type": content_type,
        }
    elif kind == "reply":
        required = ["correlation_id", "content_type"]
        properties = {
            "correlation_id": _text("The request's correlation_id, or its message_id."),
            "content_type": content_type,
        }
    else:
        required = ["message_id", "type", "timestamp", "delivery_mode", "content_type"]
        properties = {
            "message_id": _text("The event's id, stable if it is published again."),
            "correlation_id": _text("The correlation_id of the command that caused it."),
            "type": _text("The event's name, also its routing key."),
            "timestamp": {"type": "integer", "description": "Seconds since the epoch."},
            "delivery_mode": {"const": 2},
            "content_type": content_type,
        }
    return {"type": "object", "required": required, "properties": properties}


def _key(kind: Kind, name: str) -> str:
    return f"{kind}.{name}"


def _message(kind: Kind, name: str, model: type[WireModel], payload: Schema) -> Schema:
    summary = f"The reply to `{name}`." if kind == "reply" else _doc(model)
    message: Schema = {
        "name": name,
        "title": f"{name} ({kind})",
        "summary": summary,
        "contentType": JSON,
        "payload": payload,
        "headers": {"$ref": f"#/components/schemas/{kind.capitalize()}Headers"},
        "correlationId": {
            "location": "$message.header#/correlation_id",
            "description": "The AMQP property correlation_id (a basic property, not a header).",
        },
        "x-amqp-properties": {"$ref": f"#/components/schemas/{kind.capitalize()}Properties"},
    }
    if kind == "event":
        message["bindings"] = {
            "amqp": {"messageType": name, "bindingVersion": AMQP_BINDING_VERSION}
        }
    return message


def _binding(exchange: str, kind: str) -> Schema:
    return {
        "amqp": {
            "is": "routingKey",
            "exchange": {"name": exchange, "type": kind, "durable": True, "autoDelete": False},
            "bindingVersion": AMQP_BINDING_VERSION,
        }
    }


def _routed(
    exchange: str, kind: str, description: str, messages: Iterable[str], of: Kind
) -> Schema:
    """A channel of one exchange whose routing key is the message's name."""
    channel: Schema = {
        "title": exchange,
        "description": description,
        "address": "{name}",
        "parameters": {
            "name": {"enum": list(messages), "description": "The routing key: a message name."}
        },
        "messages": {
            name: {"$ref": f"#/components/messages/{_key(of, name)}"} for name in messages
        },
        "bindings": _binding(exchange, kind),
    }
    if kind == "direct":
        channel["description"] += (
            f" Declared with the argument `alternate-exchange: {names.UNROUTED_EXCHANGE}` "
            "(see x-amqp-exchange-arguments): a name no handler knows still reaches the "
            "worker, which dead-letters it as `unknown-message` and answers its reply_to. "
            "Do not declare it yourself; if you must, use exactly these arguments."
        )
        channel["x-amqp-exchange-arguments"] = {"alternate-exchange": names.UNROUTED_EXCHANGE}
    return channel


def _channels() -> Schema:
    return {
        "commands": _routed(
            names.COMMANDS_EXCHANGE,
            "direct",
            "Commands; routing key = the command's name.",
            COMMANDS,
            "command",
        ),
        "queries": _routed(
            names.QUERIES_EXCHANGE,
            "direct",
            "Queries; routing key = the query's name.",
            QUERIES,
            "query",
        ),
        "events": _routed(
            names.EVENTS_EXCHANGE,
            "topic",
            "Domain events; routing key = the event's name. Bind a queue of your own with "
            "a pattern such as `orders.#`. At least once; for one aggregate, in the order of "
            "its versions; published only after the change is stored.",
            EVENTS,
            "event",
        ),
        "replies": {
            "title": "reply_to",
            "description": "The request's `reply_to`: the worker publishes the reply to the "
            "default exchange with routing key = reply_to (a queue of yours, or "
            f"`{names.DIRECT_REPLY_TO}` consumed with no-ack on the publishing channel).",
            "address": None,
            "messages": {
                name: {"$ref": f"#/components/messages/{_key('reply', name)}"}
                for name in [*COMMANDS, *QUERIES]
            },
            "bindings": _binding("", "default"),
        },
        "dead-letter": {
            "title": names.DEAD_LETTER_EXCHANGE,
            "description": "Messages the worker could not process, kept in the durable queue "
            f"`{names.DEAD_LETTER_QUEUE}` bound to this exchange (published with their "
            "original routing key). To watch them without taking them away, bind an "
            "exclusive queue of your own.",
            "address": None,
            "messages": {"dead-letter": {"$ref": "#/components/messages/dead-letter"}},
            "bindings": _binding(names.DEAD_LETTER_EXCHANGE, "fanout"),
        },
    }


def _operations() -> Schema:
    operations: Schema = {}
    requests: tuple[tuple[Kind, str, dict[str, type[WireModel]]], ...] = (
        ("command", "commands", COMMANDS),
        ("query", "queries", QUERIES),
    )
    for kind, channel, catalogue in requests:
        for name, model in catalogue.items():
            operation: Schema = {
                "action": "send",
                "title": f"Send {name}" if kind == "command" else f"Ask {name}",
                "summary": _doc(model),
                "channel": {"$ref": f"#/channels/{channel}"},
                "messages": [{"$ref": f"#/channels/{channel}/messages/{name}"}],
                "reply": {
                    "address": {
                        "location": "$message.header#/reply_to",
                        "description": "The request's AMQP property reply_to.",
                    },
                    "channel": {"$ref": "#/channels/replies"},
                    "messages": [{"$ref": f"#/channels/replies/messages/{name}"}],
                },
            }
            if kind == "command":
                binding = {"deliveryMode": 2, "bindingVersion": AMQP_BINDING_VERSION}
                operation["bindings"] = {"amqp": binding}
            operations[_key(kind, name)] = operation
    for name, model in EVENTS.items():
        operations[_key("event", name)] = {
            "action": "receive",
            "title": f"Receive {name}",
            "summary": _doc(model),
            "channel": {"$ref": "#/channels/events"},
            "messages": [{"$ref": f"#/channels/events/messages/{name}"}],
            "bindings": {
                "amqp": {
                    "deliveryMode": 2,
                    "timestamp": True,
                    "bindingVersion": AMQP_BINDING_VERSION,
                }
            },
        }
    operations["dead-letter"] = {
        "action": "receive",
        "title": "Receive dead letters",
        "summary": "What could not be processed, with why (for operators and monitoring).",
        "channel": {"$ref": "#/channels/dead-letter"},
        "messages": [{"$ref": "#/channels/dead-letter/messages/dead-letter"}],
    }
    return operations


def _dead_letter() -> Schema:
    reasons = "; ".join(f"`{reason}`: {why}" for reason, why in names.DEAD_LETTER_REASONS.items())
    headers = {
        names.ERROR_REASON_HEADER: {
            "description": f"Why, a short code: {reasons}. An open set.",
            "anyOf": [
                {"enum": list(names.DEAD_LETTER_REASONS)},
                {"type": "string", "pattern": "^[a-z]+(-[a-z]+)*$"},
            ],
        },
        names.ERROR_DETAIL_HEADER: _text("What was wrong, for people.", maxLength=1000),
        names.ORIGINAL_EXCHANGE_HEADER: _text("Where the message was published."),
        names.ORIGINAL_ROUTING_KEY_HEADER: _text("Its routing key."),
        names.ORIGINAL_USER_ID_HEADER: _text("Its user_id property, which RabbitMQ would refuse."),
        names.MESSAGE_ID_ADDED_HEADER: {
            "type": "boolean",
            "description": "It arrived without message_id; the one it has was added.",
        },
        names.RETRY_ATTEMPT_HEADER: {
            "type": "integer",
            "description": "Retries spent on a command.",
        },
        names.LAST_ERROR_HEADER: _text("The kind of failure of the last try."),
    }
    required = [
        names.ERROR_REASON_HEADER,
        names.ERROR_DETAIL_HEADER,
        names.ORIGINAL_EXCHANGE_HEADER,
        names.ORIGINAL_ROUTING_KEY_HEADER,
    ]
    return {
        "name": "dead-letter",
        "title": "dead letter",
        "summary": "A message as it arrived (body and properties), with why it failed. "
        "If it had a reply_to, the sender also got a 400 or 500 reply.",
        "payload": {"description": "The original body, unchanged (maybe not JSON)."},
        "headers": {
            "type": "object",
            "required": required,
            "properties": headers,
            "additionalProperties": True,
        },
    }


def asyncapi_document() -> Schema:
    """The AsyncAPI 3.0.0 document of the v1 contract, as a JSON-ready dict."""
    messages = _messages()
    refs, defs = _bundle(
        [*((model, mode) for _, _, model, mode in messages), (FieldError, "serialization")],
        "#/components/schemas/{model}",
    )
    field_error = refs[FieldError, "serialization"]
    schemas: Schema = dict(defs)
    for model in dict.fromkeys(REPLIES.values()):
        schemas[f"{model.__name__}Result"] = result_schema(
            refs[model, "serialization"], field_error, f"{model.__name__}Result"
        )
    schemas["OperationResult"] = result_schema(
        {"description": "On success: what the request returns."}, field_error, "OperationResult"
    )
    for kind in SECTIONS:
        schemas[f"{kind.capitalize()}Headers"] = _headers(kind)
        schemas[f"{kind.capitalize()}Properties"] = _properties(kind)
    components: Schema = {"schemas": schemas, "messages": {"dead-letter": _dead_letter()}}
    for kind, name, model, mode in messages:
        payload = refs[model, mode]
        if kind == "reply":
            payload = {"$ref": f"#/components/schemas/{model.__name__}Result"}
        components["messages"][_key(kind, name)] = _message(kind, name, model, payload)
    return {
        "asyncapi": "3.0.0",
        "id": "urn:pizzeria:order-service",
        "info": {
            "title": "Mario's Pizzeria order service",
            "version": CONTRACT_VERSION,
            "description": DESCRIPTION,
            "license": {"name": "MIT"},
        },
        "defaultContentType": JSON,
        "servers": {
            "rabbitmq": {
                "host": "{host}",
                "protocol": "amqp",
                "protocolVersion": "0.9.1",
                "description": "RabbitMQ 3.10 or newer; virtual host and credentials "
                "come from configuration (AMQP_URL).",
                "variables": {"host": {"default": "127.0.0.1:5672", "description": "host:port"}},
            }
        },
        "channels": _channels(),
        "operations": _operations(),
        "components": components,
    }


def json_schemas() -> dict[str, Schema]:
    """A JSON Schema (2020-12) per message, by path relative to `docs/schemas/`."""
    files: dict[str, Schema] = {}
    for kind, name, model, mode in _messages():
        if kind == "reply":
            refs, defs = _bundle([(model, mode), (FieldError, mode)], "#/$defs/{model}")
            title = f"{name} reply"
            schema = result_schema(refs[model, mode], refs[FieldError, mode], title)
            schema["$defs"] = defs
        else:
            schema = model.model_json_schema(mode=mode)
        files[f"{SECTIONS[kind]}/{name}.json"] = {
            "$schema": JSON_SCHEMA_DIALECT,
            "$comment": GENERATED,
            **schema,
        }
    _, defs = _bundle([(FieldError, "serialization")], "#/$defs/{model}")
    envelope = result_schema(
        {"description": "On success: what the request returns."},
        {"$ref": "#/$defs/FieldError"},
        "OperationResult",
    )
    files["operation-result.json"] = {
        "$schema": JSON_SCHEMA_DIALECT,
        "$comment": GENERATED,
        **envelope,
        "$defs": defs,
    }
    return files


def render(document: Schema) -> str:
    """Deterministic JSON text: sorted keys, two-space indent, a final newline."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def generated_files() -> dict[str, str]:
    """Every generated file's text, by path relative to `docs/`."""
    files = {"asyncapi.json": render(asyncapi_document())}
    for path, schema in sorted(json_schemas().items()):
        files[f"schemas/{path}"] = render(schema)
    return files


def drift(directory: Path) -> list[str]:
    """Paths under `directory` that differ from the code: changed, missing or stale."""
    expected = generated_files()
    present = {
        path.relative_to(directory).as_posix() for path in (directory / "schemas").rglob("*.json")
    }
    if (directory / "asyncapi.json").exists():
        present.add("asyncapi.json")
    changed = [
        f"{path} (changed)"
        for path, text in expected.items()
        if path in present and (directory / path).read_text(encoding="utf-8") != text
    ]
    missing = [f"{path} (missing)" for path in expected if path not in present]
    stale = [f"{path} (stale)" for path in sorted(present - expected.keys())]
    return changed + missing + stale


def write(directory: Path) -> list[str]:
    """Bring `directory` up to date; the paths written or removed."""
    touched = drift(directory)
    for path, text in generated_files().items():
        target = directory / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    expected = generated_files().keys()
    for stale in (directory / "schemas").rglob("*.json"):
        if stale.relative_to(directory).as_posix() not in expected:
            stale.unlink()
    return touched


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pizzeria_contracts.spec")
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", metavar="DIR", type=Path, help="regenerate the documents")
    action.add_argument("--check", metavar="DIR", type=Path, help="exit 1 if they drifted")
    args = parser.parse_args(argv)
    if args.write is not None:
        for line in write(args.write):
            print(f"updated: {args.write / line}")
        return 0
    drifted = drift(args.check)
    for line in drifted:
        print(f"drifted: {args.check / line}", file=sys.stderr)
    if drifted:
        print("run scripts/gen-docs to regenerate them", file=sys.stderr)
    return 1 if drifted else 0


if __name__ == "__main__":
    sys.exit(main())
