"""The operator's policy: what a file may say, and what the pipeline does with it."""

import json
from pathlib import Path
from uuid import uuid4

import pytest

from pizzeria_contracts import names
from tests.fakes import (
    fake_adapters,
)
from tests.unit.pizzeria import order_body
from worker.application.authorization import Policy, PolicyError
from worker.application.context import MessageContext
from worker.application.mediator import Mediator, Outcome
from worker.bootstrap import COMMAND_NAMES, QUERY_NAMES, build_mediator

REPO_ROOT = Path(__file__).resolve().parents[2]
UNAUTHORIZED = "This service requires the user_id property on every message"


def policy_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / f"policy-{uuid4().hex[:8]}.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load(path: Path) -> Policy:
    return Policy.load(path, COMMAND_NAMES, QUERY_NAMES)


def refusal(tmp_path: Path, text: str) -> str:
    path = policy_file(tmp_path, text)
    with pytest.raises(PolicyError) as raised:
        load(path)
    message = str(raised.value)
    assert message.startswith(f"{path}: "), message
    return message


# Loading


def test_the_deployed_policy_loads_and_says_who_may_send_what() -> None:
    policy = load(REPO_ROOT / "deploy" / "policy.toml")

    assert set(policy.users) == {"storefront", "kitchen", "delivery", "admin"}
    assert policy.allows("storefront", names.PLACE_ORDER, is_command=True)
    assert policy.allows("kitchen", names.START_COOKING, is_command=True)
    assert not policy.allows("kitchen", names.PLACE_ORDER, is_command=True)
    assert not policy.allows("storefront", names.DELIVER_ORDER, is_command=True)
    assert policy.allows("delivery", names.GET_ORDER, is_command=False)
    assert not policy.allows("delivery", names.GET_MENU, is_command=False)


def test_a_user_the_policy_does_not_name_may_send_nothing(tmp_path: Path) -> None:
    policy = load(policy_file(tmp_path, '[users.kitchen]\nqueries = ["menu.get"]\n'))

    assert not policy.allows("storefront", names.GET_MENU, is_command=False)
    assert not policy.allows("", names.GET_MENU, is_command=False)


def test_commands_and_queries_are_granted_separately(tmp_path: Path) -> None:
    policy = load(policy_file(tmp_path, '[users.reader]\nqueries = ["orders.get"]\n'))

    assert policy.allows("reader", names.GET_ORDER, is_command=False)
    assert not policy.allows("reader", names.GET_ORDER, is_command=True)


def test_wildcards_grant_every_name_they_match_and_no_other(tmp_path: Path) -> None:
    text = '[users.admin]\ncommands = ["menu.*", "orders.ca?cel"]\nqueries = ["*"]\n'
    policy = load(policy_file(tmp_path, text))

    for name in (names.ADD_PIZZA, names.UPDATE_PIZZA, names.REMOVE_PIZZA, names.CANCEL_ORDER):
        assert policy.allows("admin", name, is_command=True), name
    assert not policy.allows("admin", names.PLACE_ORDER, is_command=True)
    assert all(policy.allows("admin", name, is_command=False) for name in QUERY_NAMES)


def test_patterns_are_case_sensitive(tmp_path: Path) -> None:
    message = refusal(tmp_path, '[users.kitchen]\ncommands = ["Orders.*"]\n')

    assert message.endswith("users.kitchen.commands: 'Orders.*' matches no command")


def test_a_misspelt_command_names_the_file_the_user_and_the_pattern(tmp_path: Path) -> None:
    path = policy_file(tmp_path, '[users.kitchen]\ncommands = ["orders.cook"]\n')

    with pytest.raises(PolicyError) as raised:
        load(path)

    assert str(raised.value) == f"{path}: users.kitchen.commands: 'orders.cook' matches no command"


def test_a_query_pattern_matching_nothing_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, '[users.storefront]\nqueries = ["orders.find*"]\n')

    assert message.endswith("users.storefront.queries: 'orders.find*' matches no query")


def test_a_command_granted_as_a_query_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, '[users.storefront]\nqueries = ["orders.place"]\n')

    assert "users.storefront.queries: 'orders.place' matches no query" in message


def test_a_table_with_other_keys_is_refused(tmp_path: Path) -> None:
    text = '[users.kitchen]\ncommands = ["orders.start-cooking"]\nevents = ["orders.*"]\n'
    message = refusal(tmp_path, text)

    assert "[users.kitchen] may only have `commands` and `queries` lists" in message


def test_a_name_instead_of_a_list_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, '[users.kitchen]\ncommands = "orders.start-cooking"\n')

    assert "users.kitchen.commands must be a list of names" in message


def test_a_user_that_is_not_a_table_is_refused(tmp_path: Path) -> None:
    message = refusal(tmp_path, 'users = { kitchen = "everything" }\n')

    assert "[users.kitchen] may only have `commands` and `queries` lists" in message


@pytest.mark.parametrize("text", ["", "[other]\nx = 1\n", "users = []\n", "[users]\n"])
def test_a_policy_without_users_is_refused(tmp_path: Path, text: str) -> None:
    message = refusal(tmp_path, text)

    assert "needs a [users.<name>] table for each RabbitMQ user" in message


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    refusal(tmp_path, "[users.kitchen\ncommands = [")


def test_a_missing_file_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"

    with pytest.raises(PolicyError) as raised:
        load(path)

    assert str(raised.value).startswith(f"{path}: ")


# The pipeline


def mediator_with(policy: Policy) -> Mediator:
    return build_mediator(
        fake_adapters(),
        policy=policy,
    )


@pytest.fixture
def mediator(tmp_path: Path) -> Mediator:
    text = (
        '[users.storefront]\ncommands = ["orders.place"]\nqueries = ["menu.get"]\n'
        '[users.kitchen]\ncommands = ["orders.start-cooking"]\n'
    )
    return mediator_with(load(policy_file(tmp_path, text)))


async def send(
    mediator: Mediator, name: str, body: bytes, user_id: str | None, command: bool = True
) -> Outcome:
    exchange = names.COMMANDS_EXCHANGE if command else names.QUERIES_EXCHANGE
    context = MessageContext(name, exchange, message_id=uuid4().hex, user_id=user_id)
    return await mediator.send(name, body, context)


PLACE = json.dumps(order_body()).encode()


@pytest.mark.parametrize("user_id", [None, ""])
async def test_a_message_without_user_id_is_unauthorized(
    mediator: Mediator, user_id: str | None
) -> None:
    outcome = await send(mediator, names.PLACE_ORDER, PLACE, user_id)

    assert outcome.result.status == 401
    assert outcome.result.detail == UNAUTHORIZED
    assert [(e.field, e.message) for e in outcome.result.errors or []] == [
        ("user_id", UNAUTHORIZED)
    ]
    assert outcome.dead_letter is None


async def test_a_user_the_policy_does_not_know_is_forbidden(mediator: Mediator) -> None:
    outcome = await send(mediator, names.PLACE_ORDER, PLACE, "mallory")

    assert outcome.result.status == 403
    assert outcome.result.detail == "User 'mallory' may not send 'orders.place'"
    assert outcome.dead_letter is None


async def test_a_known_user_sending_what_it_may_not_is_forbidden(mediator: Mediator) -> None:
    outcome = await send(mediator, names.PLACE_ORDER, PLACE, "kitchen")

    assert outcome.result.status == 403
    assert outcome.result.detail == "User 'kitchen' may not send 'orders.place'"


async def test_an_allowed_user_gets_through_to_the_handler(mediator: Mediator) -> None:
    placed = await send(mediator, names.PLACE_ORDER, PLACE, "storefront")
    menu = await send(mediator, names.GET_MENU, b"{}", "storefront", command=False)

    assert placed.result.status == 201
    assert menu.result.status == 200


async def test_a_query_grant_does_not_cover_a_command_of_the_same_user(
    mediator: Mediator,
) -> None:
    outcome = await send(mediator, names.GET_MENU, b"{}", "kitchen", command=False)

    assert outcome.result.status == 403


async def test_authorization_runs_before_parsing(mediator: Mediator) -> None:
    """A refused sender learns nothing about the body: no validation, no dead letter."""
    forbidden = await send(mediator, names.PLACE_ORDER, b'{"customer_name": ', "kitchen")
    unauthorized = await send(mediator, names.PLACE_ORDER, b"\xff\xfe", None)

    assert (forbidden.result.status, forbidden.dead_letter) == (403, None)
    assert (unauthorized.result.status, unauthorized.dead_letter) == (401, None)


async def test_an_allowed_user_with_an_invalid_body_is_dead_lettered(mediator: Mediator) -> None:
    outcome = await send(mediator, names.PLACE_ORDER, b'{"customer_name": ', "storefront")

    assert (outcome.result.status, outcome.dead_letter) == (400, "invalid-json")


async def test_an_unknown_message_is_forbidden_before_it_is_found_unknown(
    mediator: Mediator,
) -> None:
    outcome = await send(mediator, "orders.bake", b"{}", "storefront")

    assert outcome.result.status == 403
    assert outcome.result.detail == "User 'storefront' may not send 'orders.bake'"
