"""The operator console in a real headless browser (Debian's chromium and chromedriver,
driven by Selenium): log in, watch a dead letter arrive, fix its cause, replay it, and
watch its group shrink; a wrong password and a POST without CSRF token are refused.

With PIZZERIA_CONSOLE_SCREENSHOTS=DIR (scripts/console-screenshots), each page is
saved as DIR/NAME.png along the way: the README's pictures.
"""

import asyncio
import os
import random
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, WebDriverException
from selenium.webdriver.common.by import By

from tests.conftest import fresh_vhost
from tests.e2e.amqp import COMMANDS, RawClient, json_body, new_id
from tests.e2e.console import (
    CONSOLE_ENV,
    OPERATOR_PASSWORD,
    ConsoleClient,
    free_port,
    own_worker,
)
from worker.adapters.mongo.database import Document

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
SCREENSHOTS = os.environ.get("PIZZERIA_CONSOLE_SCREENSHOTS")
SMALL_LIMIT = "1024"
"""The worker's first limit on a body (PIZZERIA_MAX_BODY_BYTES): too small for a big order."""
TOO_LARGE = ('tr.group[data-reason="message-too-large"][data-name="orders.place"]', "td.count")


@pytest.fixture(scope="module")
def amqp_url(amqp_url: str) -> Iterator[str]:
    """A virtual host of its own: the dead letters listed are this module's only."""
    with fresh_vhost(amqp_url, "pizzeria-console") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[webdriver.Chrome]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        message = "needs Debian's chromium and chromium-driver (scripts/lib.sh ensure_browser)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",  # CI runs as root
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--window-size=1280,860",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(CHROMEDRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
async def database(mongo_client: AsyncMongoClient[Document]) -> AsyncIterator[str]:
    name = f"e2e_console_{uuid.uuid4().hex[:10]}"
    yield name
    await mongo_client.drop_database(name)


@pytest.fixture
async def raw(amqp_url: str) -> AsyncIterator[RawClient]:
    client = await RawClient.connect(amqp_url)
    yield client
    await client.close()


def snap(driver: webdriver.Chrome, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SCREENSHOTS) / f"{name}.png"))


async def until(
    check: Callable[[], bool],
    what: str,
    timeout: float = 20.0,
    page: webdriver.Chrome | None = None,
) -> None:
    """Poll the page (each look is quick) while the event loop reads the worker's log."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        try:
            if check():
                return
        except (NoSuchElementException, WebDriverException):
            pass
        if loop.time() > deadline:
            shown = f":\n{page.page_source[:3000]}" if page is not None else ""
            raise AssertionError(f"timed out waiting for {what}{shown}")
        await asyncio.sleep(0.2)


async def click(driver: webdriver.Chrome, by: str, value: str) -> None:
    """Find and click, again if the page redrew the element in between (htmx polls)."""

    def clicked() -> bool:
        driver.find_element(by, value).click()
        return True

    await until(clicked, f"a click on {value}")


async def text_of(driver: webdriver.Chrome, by: str, value: str) -> str:
    """An element's text, read again if the page redrew it in between."""
    read: list[str] = []

    def found() -> bool:
        read.append(driver.find_element(by, value).text)
        return True

    await until(found, f"the text of {value}")
    return read[-1]


def too_large_count(driver: webdriver.Chrome) -> int:
    rows = driver.find_elements(By.CSS_SELECTOR, TOO_LARGE[0])
    return int(rows[0].find_element(By.CSS_SELECTOR, TOO_LARGE[1]).text) if rows else 0


def big_order(name: str) -> bytes:
    """A valid order larger than SMALL_LIMIT bytes: many pizzas, each with toppings."""
    pizza = {"name": "margherita", "size": "large", "toppings": ["basil", "olives", "garlic"]}
    body = json_body(
        customer_name=name,
        customer_phone=f"+39 3{random.randrange(10**8, 10**9)}",
        customer_address="Via dei Tribunali 32, Napoli",
        pizzas=[pizza] * 12,
        payment_method="cash",
        notes="Ring twice; the bell on the left is broken.",
    )
    assert len(body) > int(SMALL_LIMIT)
    return body


async def test_an_operator_replays_a_dead_letter_after_fixing_its_cause(
    browser: webdriver.Chrome, raw: RawClient, amqp_url: str, mongodb_url: str, database: str
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**CONSOLE_ENV, "PIZZERIA_HTTP_PORT": str(port)}
    first = {**env, "PIZZERIA_MAX_BODY_BYTES": SMALL_LIMIT}
    async with own_worker(amqp_url, mongodb_url, database, first):
        browser.get(base + "/")
        assert "/login" in browser.current_url
        snap(browser, "login")

        browser.find_element(By.ID, "password").send_keys("wrong password")
        await click(browser, By.ID, "login")
        await until(lambda: bool(browser.find_elements(By.ID, "login-error")), "the refusal")
        assert "/login" in browser.current_url
        assert browser.find_elements(By.CSS_SELECTOR, "nav") == []

        browser.find_element(By.ID, "password").send_keys(OPERATOR_PASSWORD)
        await click(browser, By.ID, "login")
        await until(lambda: browser.find_elements(By.ID, "groups") != [], "the dead letters")
        assert browser.find_element(By.ID, "role").text == "operator"
        before = too_large_count(browser)

        alice, bruno = f"Alice {new_id()[:6]}", f"Bruno {new_id()[:6]}"
        kept, other, third = new_id(), new_id(), new_id()
        browser.execute_script("window.notReloaded = true")
        await raw.publish(COMMANDS, "orders.place", big_order(alice), message_id=kept)
        await raw.publish(COMMANDS, "orders.place", big_order(bruno), message_id=other)
        await raw.publish(COMMANDS, "orders.place", big_order("Dario"), message_id=third)
        broken = new_id()  # another group, for the picture; purged below
        await raw.publish(COMMANDS, "orders.place", b'{"customer_name": "Carla"', message_id=broken)
        await until(lambda: too_large_count(browser) == before + 3, "three letters too large")
        assert browser.execute_script("return window.notReloaded") is True  # polled, not reloaded
        snap(browser, "dead-letters")

        refused = browser.execute_async_script(
            """const done = arguments[arguments.length - 1];
            fetch("/dead-letters/purge", {method: "POST",
                headers: {"Content-Type": "application/x-www-form-urlencoded"},
                body: "confirm=yes&id=" + arguments[0]}).then(r => done(r.status));""",
            kept,
        )
        assert refused == 403

    # The cause: the worker took at most 1 KiB. Deploy it with the default limit.
    second = {**env, "PIZZERIA_KITCHEN_WARN_AFTER": "2"}
    async with own_worker(amqp_url, mongodb_url, database, second):
        # Same port and passwords: the session and the page carry on.
        await until(
            lambda: too_large_count(browser) == before + 3, "the page polling again", page=browser
        )
        await click(browser, By.CSS_SELECTOR, f"{TOO_LARGE[0]} a.open")
        await until(lambda: kept in browser.page_source, "the group's page")
        snap(browser, "group")

        await click(browser, By.LINK_TEXT, kept)
        await until(lambda: browser.find_elements(By.ID, "body") != [], "the letter")
        assert alice in browser.find_element(By.ID, "body").text
        assert browser.find_element(By.ID, "reason").text == "message-too-large"
        snap(browser, "letter")

        await click(browser, By.ID, "replay-one")
        await until(lambda: browser.find_elements(By.ID, "confirm") != [], "the confirmation")
        assert kept in browser.page_source
        assert other not in browser.page_source
        snap(browser, "confirm")
        await click(browser, By.ID, "confirm")
        await until(lambda: browser.find_elements(By.ID, "outcome") != [], "the outcome")
        assert browser.find_element(By.ID, "outcome").text == "Replayed 1 dead letter"

        await click(browser, By.ID, "back")
        await until(lambda: too_large_count(browser) == before + 2, "the group one smaller")

        # Purge the other from the group's page, by selection; the overview follows.
        await click(browser, By.CSS_SELECTOR, f"{TOO_LARGE[0]} a.open")
        await until(lambda: other in browser.page_source, "the group's page")
        await click(browser, By.CSS_SELECTOR, f'input[name="id"][value="{other}"]')
        await click(browser, By.ID, "purge-selected")
        await until(lambda: browser.find_elements(By.ID, "confirm") != [], "the confirmation")
        await click(browser, By.ID, "confirm")
        await until(lambda: browser.find_elements(By.ID, "outcome") != [], "the outcome")
        assert browser.find_element(By.ID, "outcome").text == "Purged 1 dead letter"
        await click(browser, By.ID, "back")
        await until(lambda: too_large_count(browser) == before + 1, "the group one smaller")

        # Another operator replays the third: this page sees its group shrink by itself.
        browser.execute_script("window.notReloaded = true")
        colleague = ConsoleClient(base)
        try:
            assert (await colleague.login(OPERATOR_PASSWORD)).status == 303
            form = {"id": third, "confirm": "yes"}
            assert (await colleague.post("/dead-letters/replay", form)).status == 200
            form = {"id": broken, "confirm": "yes"}
            assert (await colleague.post("/dead-letters/purge", form)).status == 200
        finally:
            await colleague.close()
        await until(lambda: too_large_count(browser) == before, "the group back to before")
        assert browser.execute_script("return window.notReloaded") is True

        # The replayed order reached the kitchen, and is late once its 2 s are up.
        await click(browser, By.LINK_TEXT, "Kitchen")
        await until(lambda: alice in browser.page_source, "the replayed order in the kitchen")
        late = browser.find_element
        await until(lambda: late(By.ID, "late-count").text != "0", "the order late", 15)
        snap(browser, "kitchen")
        order_id = await text_of(browser, By.CSS_SELECTOR, "table.active a")

        await click(browser, By.LINK_TEXT, "Conversation")
        browser.find_element(By.ID, "order-id").send_keys(order_id)
        await click(browser, By.ID, "show")
        await until(lambda: browser.find_elements(By.ID, "conversation") != [], "the conversation")
        conversation = browser.find_element(By.ID, "conversation").text
        assert kept in conversation
        assert "orders.placed" in conversation
        await until(
            lambda: "orders.kitchen-late" in _reloaded(browser), "the late flag's command", 10
        )
        snap(browser, "conversation")

        await click(browser, By.LINK_TEXT, "Health")
        await until(lambda: browser.find_elements(By.ID, "check-rabbitmq") != [], "health")
        assert "ok" in (browser.find_element(By.ID, "check-mongodb").get_attribute("class") or "")
        snap(browser, "health")


def _reloaded(browser: webdriver.Chrome) -> str:
    browser.refresh()
    return browser.find_element(By.ID, "conversation").text
