"""Settings errors name the variable, word for word, and never repeat its value;
URLs in log lines keep their passwords to themselves."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from worker.bootstrap import Service
from worker.settings import Settings, describe, env_name, mask, with_option

REPO_ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE_MONGODB = "mongodb://127.0.0.1:1/"
"""Nothing listens on port 1: a worker that gets as far as its database stops at once."""


def run_worker(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python -m worker` in an empty directory (no `.env`), with only these settings."""
    clean = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("PIZZERIA_", "AMQP_", "MONGODB_"))
    }
    clean.update(
        MONGODB_URL=UNREACHABLE_MONGODB,
        PIZZERIA_MONGODB_TIMEOUT_SECONDS="0.3",
        PIZZERIA_HTTP_PORT="0",
        PYTHONPATH=str(REPO_ROOT),
    )
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-m", "worker"],
        cwd=tmp_path,
        env=clean,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (
            {"PIZZERIA_KITCHEN_WARN_AFTER": "0"},
            "invalid setting PIZZERIA_KITCHEN_WARN_AFTER: Input should be greater than 0 seconds",
        ),
        (
            {"PIZZERIA_DELIVERY_LATE_AFTER": "-30"},
            "invalid setting PIZZERIA_DELIVERY_LATE_AFTER: Input should be greater than 0 seconds",
        ),
        (
            {"PIZZERIA_KITCHEN_WARN_AFTER": "PT50M", "PIZZERIA_KITCHEN_CANCEL_AFTER": "2700"},
            "invalid setting PIZZERIA_KITCHEN_CANCEL_AFTER: Value error, must be longer than "
            "PIZZERIA_KITCHEN_WARN_AFTER (0:50:00): an order is warned about before it is "
            "cancelled",
        ),
    ],
)
def test_timeouts_that_cannot_work_stop_the_worker_naming_them(
    tmp_path: Path, settings: dict[str, str], message: str
) -> None:
    finished = run_worker(tmp_path, **settings)

    assert (finished.returncode, finished.stdout) == (2, "")
    assert finished.stderr == message + "\n"


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "PIZZERIA_PREFETCH",
            "0",
            "invalid setting PIZZERIA_PREFETCH: Input should be greater than or equal to 1",
        ),
        (
            "AMQP_URL",
            "http://worker:pw-7a1b@127.0.0.1:5672/",
            "invalid setting AMQP_URL: Value error, needs a URL such as amqp://user:password@host/",
        ),
    ],
)
def test_a_bad_setting_stops_the_worker_with_one_line_and_exit_code_2(
    tmp_path: Path, variable: str, value: str, message: str
) -> None:
    finished = run_worker(tmp_path, **{variable: value})

    assert (finished.returncode, finished.stdout) == (2, "")
    assert finished.stderr == message + "\n"


def test_a_policy_with_a_typo_stops_the_worker_naming_file_user_and_pattern(
    tmp_path: Path,
) -> None:
    policy = tmp_path / "policy.toml"
    policy.write_text('[users.kitchen]\ncommands = ["orders.cook"]\n', encoding="utf-8")

    finished = run_worker(tmp_path, PIZZERIA_AUTHORIZATION_POLICY=str(policy))

    assert finished.returncode == 2
    assert finished.stderr == (
        f"invalid setting PIZZERIA_AUTHORIZATION_POLICY: {policy}: "
        "users.kitchen.commands: 'orders.cook' matches no command\n"
    )


def test_services_out_of_reach_stop_the_worker_without_showing_passwords(
    tmp_path: Path,
) -> None:
    finished = run_worker(
        tmp_path,
        AMQP_URL="amqp://worker:amqp-pw-8c1e@127.0.0.1:1/pizzeria",
        MONGODB_URL="mongodb://worker:mongo-pw-5d2f@127.0.0.1:1/",
    )

    assert finished.returncode == 1
    assert "could not start" in finished.stderr
    assert "amqp://worker:***@127.0.0.1:1/pizzeria" in finished.stderr
    assert "mongodb://worker:***@127.0.0.1:1/" in finished.stderr
    assert "amqp-pw-8c1e" not in finished.stderr + finished.stdout
    assert "mongo-pw-5d2f" not in finished.stderr + finished.stdout


# In process


@pytest.fixture
def no_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for key in list(os.environ):
        if key.startswith(("PIZZERIA_", "AMQP_", "MONGODB_")):
            monkeypatch.delenv(key)


@pytest.mark.usefixtures("no_environment")
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "PIZZERIA_PREFETCH",
            "hunter2",
            "invalid setting PIZZERIA_PREFETCH: "
            "Input should be a valid integer, unable to parse string as an integer",
        ),
        (
            "PIZZERIA_RETRY_JITTER",
            "1.5",
            "invalid setting PIZZERIA_RETRY_JITTER: Input should be less than or equal to 1",
        ),
        (
            "PIZZERIA_LOG_LEVEL",
            "s3cret-level",
            "invalid setting PIZZERIA_LOG_LEVEL: "
            "Input should be 'DEBUG', 'INFO', 'WARNING' or 'ERROR'",
        ),
        (
            "PIZZERIA_MAX_BODY_BYTES",
            "100",
            "invalid setting PIZZERIA_MAX_BODY_BYTES: "
            "Input should be greater than or equal to 1024",
        ),
    ],
)
def test_each_bad_setting_is_described_word_for_word(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError) as raised:
        Settings()

    assert describe(raised.value) == message


@pytest.mark.usefixtures("no_environment")
@pytest.mark.parametrize(
    ("variable", "url", "example"),
    [
        ("AMQP_URL", "", "amqp://user:password@host/"),
        ("AMQP_URL", "nonsense-pw-7a1b", "amqp://user:password@host/"),
        ("AMQP_URL", "http://worker:pw-7a1b@127.0.0.1:5672/", "amqp://user:password@host/"),
        ("AMQP_URL", "amqp://worker:pw-7a1b@/pizzeria", "amqp://user:password@host/"),
        ("MONGODB_URL", "mysql://app:pw-7a1b@db/", "mongodb://user:password@host/"),
    ],
)
def test_a_url_of_the_wrong_kind_is_a_settings_error_that_keeps_its_password(
    monkeypatch: pytest.MonkeyPatch, variable: str, url: str, example: str
) -> None:
    monkeypatch.setenv(variable, url)

    with pytest.raises(ValidationError) as raised:
        Settings()
    message = describe(raised.value)

    assert message == f"invalid setting {variable}: Value error, needs a URL such as {example}"
    assert "pw-7a1b" not in message


@pytest.mark.usefixtures("no_environment")
def test_every_bad_setting_gets_a_line_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIZZERIA_PREFETCH", "0")
    monkeypatch.setenv("PIZZERIA_RETRY_ATTEMPTS", "-1")

    with pytest.raises(ValidationError) as raised:
        Settings()

    assert sorted(describe(raised.value).splitlines()) == [
        "invalid setting PIZZERIA_PREFETCH: Input should be greater than or equal to 1",
        "invalid setting PIZZERIA_RETRY_ATTEMPTS: Input should be greater than or equal to 0",
    ]


@pytest.mark.usefixtures("no_environment")
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("PIZZERIA_PREFETCH", "s3cret-7f0a"),
        ("PIZZERIA_MAX_BODY_BYTES", "999999999999"),
        ("PIZZERIA_RETRY_BASE_DELAY", "-8431"),
        ("PIZZERIA_LOG_LEVEL", "s3cret-7f0a"),
        ("PIZZERIA_SHUTDOWN_TIMEOUT", "s3cret-7f0a"),
    ],
)
def test_the_message_never_contains_the_value_given(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValidationError) as raised:
        Settings()
    message = describe(raised.value)

    assert message.startswith(f"invalid setting {variable}: ")
    assert value not in message
    assert len(message.splitlines()) == 1


@pytest.mark.usefixtures("no_environment")
def test_a_setting_may_be_given_with_or_without_the_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PIZZERIA_AMQP_URL", "amqp://a:b@rabbit:5672/x")
    monkeypatch.setenv("MONGODB_DATABASE", "elsewhere")

    settings = Settings()

    assert settings.amqp_url.get_secret_value() == "amqp://a:b@rabbit:5672/x"
    assert settings.mongodb_database == "elsewhere"
    assert "a:b@" not in repr(settings)


@pytest.mark.usefixtures("no_environment")
async def test_every_database_operation_is_bounded_and_the_broker_heartbeat_is_asked_for(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AMQP_URL", "amqp://worker:s3cret@rabbit:5672/pizzeria?heartbeat=60")
    monkeypatch.setenv("PIZZERIA_MONGODB_OPERATION_TIMEOUT_SECONDS", "7.5")
    monkeypatch.setenv("PIZZERIA_AMQP_HEARTBEAT_SECONDS", "3")

    service = Service(Settings(http_enabled=False))  # builds its clients, connects nothing
    try:
        assert service.mongo.options.timeout == 7.5
        assert service.broker.specification.url == ["amqp://rabbit:5672/pizzeria?heartbeat=3"]
    finally:
        await service.mongo.close()


@pytest.mark.usefixtures("no_environment")
def test_by_default_a_database_operation_has_ten_seconds_and_the_heartbeat_is_two() -> None:
    settings = Settings()

    assert settings.mongodb_operation_timeout_seconds == 10.0
    assert settings.amqp_heartbeat_seconds == 2
    assert env_name("amqp_heartbeat_seconds") == "PIZZERIA_AMQP_HEARTBEAT_SECONDS"


@pytest.mark.parametrize(
    ("url", "with_heartbeat"),
    [
        ("amqp://127.0.0.1:5672/", "amqp://127.0.0.1:5672/?heartbeat=2"),
        ("amqp://w:p%40ss@rabbit/v?heartbeat=60", "amqp://w:p%40ss@rabbit/v?heartbeat=2"),
        (
            "amqps://w:s@rabbit:5671/v?cafile=/etc/ca.pem&heartbeat=0&name=worker%201",
            "amqps://w:s@rabbit:5671/v?cafile=/etc/ca.pem&name=worker%201&heartbeat=2",
        ),
        ("amqp://rabbit/v?heartbeats=9", "amqp://rabbit/v?heartbeats=9&heartbeat=2"),
    ],
)
def test_an_option_set_in_a_url_replaces_its_namesake_and_leaves_the_rest_as_written(
    url: str, with_heartbeat: str
) -> None:
    assert with_option(url, "heartbeat", "2") == with_heartbeat


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("amqp://worker:s3cret@rabbit:5672/pizzeria", "amqp://worker:***@rabbit:5672/pizzeria"),
        ("amqps://worker:s3cret@rabbit:5671/%2F", "amqps://worker:***@rabbit:5671/%2F"),
        ("mongodb://app:s3cret@mongo:27017/", "mongodb://app:***@mongo:27017/"),
        (
            "mongodb://app:s3cret@m1:27017,m2:27017/db?replicaSet=rs0",
            "mongodb://app:***@m1:27017,m2:27017/db?replicaSet=rs0",
        ),
        ("mongodb+srv://app:s3cret@cluster.example/", "mongodb+srv://app:***@cluster.example/"),
        ("amqp://guest:guest@127.0.0.1:5672/", "amqp://guest:***@127.0.0.1:5672/"),
        ("amqp://worker:p%40ss%3Aw0rd@rabbit/", "amqp://worker:***@rabbit/"),
        ("amqp://worker:p@ss@rabbit/", "amqp://worker:***@rabbit/"),
        ("amqp://worker:@rabbit/", "amqp://worker:***@rabbit/"),
    ],
)
def test_mask_hides_the_password(url: str, masked: str) -> None:
    assert mask(url) == masked


@pytest.mark.parametrize(
    "url",
    [
        "amqp://127.0.0.1:5672/",
        "amqp://worker@rabbit:5672/pizzeria",
        "amqps://rabbit/",
        "mongodb://127.0.0.1:27017/",
        "mongodb://app@mongo/?authMechanism=MONGODB-X509",
    ],
)
def test_mask_leaves_a_url_without_password_alone(url: str) -> None:
    assert mask(url) == url
