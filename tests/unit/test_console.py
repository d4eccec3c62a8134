"""The operator console's parts that need no server: passwords, sessions, CSRF tokens,
the grouping and choosing of dead letters, and what an order keeps of its commands."""

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest
from aio_pika.abc import AbstractConnection
from aiohttp import web
from pydantic import SecretStr

from pizzeria_contracts import OperationResult, names
from worker.adapters.mongo.conversations import _command
from worker.adapters.mongo.documents import inbox_entries
from worker.application.ports import Receipt
from worker.bootstrap import build_console
from worker.domain.events import OrderConfirmed
from worker.entrypoints.console.auth import ConsoleSettingsError, Gate, Role, password
from worker.entrypoints.console.deadletters import (
    Chosen,
    DeadLetter,
    Desk,
    DeskUnavailableError,
    Snapshot,
)
from worker.entrypoints.console.filters import items
from worker.entrypoints.console.pages import _next, group_key, group_token
from worker.settings import Settings


def test_each_password_opens_its_own_role_and_no_other() -> None:
    gate = Gate("operator-secret", "viewer-secret", hours=1)
    assert gate.role_for("operator-secret") is Role.OPERATOR
    assert gate.role_for("viewer-secret") is Role.VIEWER
    assert gate.role_for("operator-secre") is None
    assert gate.role_for("") is None


def test_without_a_viewer_password_there_is_no_viewer() -> None:
    gate = Gate("operator-secret", None, hours=1)
    assert gate.role_for("") is None
    assert gate.role_for("operator-secret") is Role.OPERATOR


def test_the_two_roles_may_not_share_a_password() -> None:
    with pytest.raises(ConsoleSettingsError):
        Gate("same", "same", hours=1)


def test_a_session_cookie_names_its_role_and_carries_a_csrf_token_of_its_own() -> None:
    gate = Gate("operator-secret", "viewer-secret", hours=1)
    first, second = gate.cookie_for(Role.VIEWER), gate.cookie_for(Role.VIEWER)
    session = gate.session(first)
    assert session is not None
    assert session.role is Role.VIEWER
    assert not session.may_change
    assert session.csrf == gate.session(first).csrf  # type: ignore[union-attr]
    assert session.csrf != gate.session(second).csrf  # type: ignore[union-attr]


def test_a_tampered_cookie_is_no_session() -> None:
    gate = Gate("operator-secret", "viewer-secret", hours=1)
    cookie = gate.cookie_for(Role.VIEWER)
    role, ends, nonce, signature = cookie.split(".")
    assert gate.session(".".join(["operator", ends, nonce, signature])) is None
    assert gate.session(".".join([role, str(int(ends) + 3600), nonce, signature])) is None
    assert gate.session(cookie[:-1] + ("0" if cookie[-1] != "0" else "1")) is None
    assert gate.session("") is None
    assert gate.session(None) is None
    assert gate.session("a.b.c") is None


def test_changing_a_password_ends_every_session() -> None:
    cookie = Gate("operator-secret", "viewer-secret", hours=1).cookie_for(Role.OPERATOR)
    assert Gate("operator-secret", "viewer-secret", hours=1).session(cookie) is not None
    assert Gate("new-secret", "viewer-secret", hours=1).session(cookie) is None
    assert Gate("operator-secret", None, hours=1).session(cookie) is None


def test_a_session_ends_when_its_hours_are_up() -> None:
    gate = Gate("operator-secret", None, hours=-1 / 3600)
    assert gate.session(gate.cookie_for(Role.OPERATOR)) is None


def test_a_password_comes_from_the_setting_or_the_first_line_of_its_file(tmp_path: Path) -> None:
    file = tmp_path / "password"
    file.write_text("from-a-file\nignored\n", encoding="utf-8")
    assert password(SecretStr("given"), None, "X") == "given"
    assert password(None, file, "X") == "from-a-file"
    assert password(None, None, "X") is None
    with pytest.raises(ConsoleSettingsError, match="not both"):
        password(SecretStr("given"), file, "X")
    with pytest.raises(ConsoleSettingsError, match="empty"):
        password(SecretStr("  "), None, "X")
    with pytest.raises(ConsoleSettingsError):
        password(None, tmp_path / "missing", "X")


def test_the_console_is_off_without_a_password() -> None:
    settings = Settings(console_password=None, console_password_file=None)
    unused = cast(Any, None)
    assert build_console(settings, unused, unused, unused, unused) is None
    viewer_only = Settings(console_viewer_password=SecretStr("look"))
    with pytest.raises(ConsoleSettingsError):
        build_console(viewer_only, unused, unused, unused, unused)


def letter(
    position: int, reason: str | None, name: str | None, at: str | None = None
) -> DeadLetter:
    headers: dict[str, Any] = {}
    if reason is not None:
        headers[names.ERROR_REASON_HEADER] = reason
    if name is not None:
        headers[names.ORIGINAL_ROUTING_KEY_HEADER] = name
    if at is not None:
        headers[names.DEAD_LETTERED_AT_HEADER] = at
    return DeadLetter(position, b"{}", {"message_id": f"m{position}"}, headers)


def test_dead_letters_group_by_reason_and_name_largest_first() -> None:
    letters = [
        letter(1, "invalid-json", "orders.place", "2026-01-01T10:00:00Z"),
        letter(2, "retries-exhausted", "orders.cancel", "2026-01-01T09:00:00Z"),
        letter(3, "invalid-json", "orders.place", "2026-01-01T11:30:00Z"),
        letter(4, "invalid-json", "orders.cancel"),
        letter(5, None, None),
    ]
    snapshot = Snapshot(datetime.now(UTC), len(letters), True, letters)
    groups = snapshot.groups()
    first = groups[0]
    assert (first.reason, first.name, first.count) == ("invalid-json", "orders.place", 2)
    assert sum(g.count for g in groups) == 5
    assert first.oldest == datetime(2026, 1, 1, 10, tzinfo=UTC)
    assert first.newest == datetime(2026, 1, 1, 11, 30, tzinfo=UTC)
    assert snapshot.group(None, None).count == 1
    assert snapshot.letter("m3") is letters[2]
    assert snapshot.letter("m9") is None


def test_the_chosen_are_whole_groups_and_single_letters_and_nothing_else() -> None:
    letters = [
        letter(1, "invalid-json", "orders.place"),
        letter(2, "invalid-json", "orders.cancel"),
        letter(3, "retries-exhausted", "orders.place"),
        letter(4, None, "orders.place"),
    ]
    chosen = Chosen(
        groups=frozenset({("invalid-json", "orders.place")}), message_ids=frozenset({"m3"})
    )
    assert [lt.position for lt in letters if chosen.matches(lt)] == [1, 3]
    nameless = Chosen(groups=frozenset({(None, "orders.place")}))
    assert [lt.position for lt in letters if nameless.matches(lt)] == [4]
    assert Chosen().is_empty
    assert not chosen.is_empty


def test_a_group_token_survives_a_form_and_a_forged_one_is_refused() -> None:
    assert group_key(group_token("invalid-json", None)) == ("invalid-json", None)
    for forged in ("not base64!", group_token("a", "b")[:-4], "WzEsIDJd"):  # [1, 2]
        with pytest.raises(web.HTTPBadRequest):
            group_key(forged)


def test_after_login_only_a_path_of_this_server_is_followed() -> None:
    assert _next("/kitchen?x=1") == "/kitchen?x=1"
    for elsewhere in (
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "/\t/evil.example",  # tabs and line breaks are dropped: it would read //evil
        "/\n/evil.example",
        "",
        None,
    ):
        assert _next(elsewhere) == "/"


def test_an_order_keeps_each_commands_name_correlation_time_and_events() -> None:
    at = datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    event = OrderConfirmed(
        aggregate_id="o1", version=2, occurred_at=at, total_amount=Decimal("9.50")
    )
    receipt = Receipt("m1", "c1", None, OperationResult.success({}, 201), "orders.place")
    [entry] = inbox_entries(receipt, [event])
    assert entry["message_id"] == "m1"
    assert entry["name"] == "orders.place"
    assert entry["correlation_id"] == "c1"
    assert entry["at"] == at.replace(microsecond=123000)
    assert entry["events"] == [{"id": event.event_id, "type": "orders.confirmed", "version": 2}]
    assert inbox_entries(Receipt("m2", "c2", None, None), [event]) == []


def test_a_command_kept_before_names_were_kept_shows_what_there_is() -> None:
    shown = _command({"message_id": "m1", "result": {"status": 200}})
    assert shown["message_id"] == "m1"
    assert shown["status"] == 200
    assert shown["name"] is None
    assert shown["events"] == []


def test_the_kitchen_counts_alike_pizzas_once() -> None:
    pizza = {"name": "margherita", "size": "large", "toppings": ["basil"]}
    other = {"name": "marinara", "size": "small", "toppings": []}
    assert items([pizza, other, pizza]) == [
        "2 \u00d7 large margherita + basil",
        "small marinara",
    ]


async def test_a_broker_that_does_not_answer_makes_the_dead_letters_unavailable() -> None:
    async def refused() -> AbstractConnection:
        raise ConnectionError("connection refused")

    desk = Desk(refused, "guest")
    with pytest.raises(DeskUnavailableError, match="did not answer"):
        await desk.snapshot()
    with pytest.raises(DeskUnavailableError):
        await desk.replay(Chosen(message_ids=frozenset({"m1"})), dry_run=False)


def test_the_worker_imports_the_dead_letter_tool_in_one_module_alone() -> None:
    """The console adds no second way to change data: one module of the worker uses the
    tool that the `pizzeria dead-letters` command uses."""
    worker = Path(__file__).resolve().parents[2] / "worker"
    importing = [
        path.relative_to(worker).as_posix()
        for path in worker.rglob("*.py")
        if "pizzeria_client.deadletters" in path.read_text(encoding="utf-8")
        or "from pizzeria_client import deadletters" in path.read_text(encoding="utf-8")
    ]
    assert importing == ["entrypoints/console/deadletters.py"]
