"""The chat page in headless Chromium against uvicorn (the server `make run` uses), so the
WebSocket, static/js/chat.js and the close codes are exercised as a real browser sees them."""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client

from marketplace.chat import services
from marketplace.chat.models import Message, ReadReceipt
from tests.browser.conftest import SCREENSHOTS, browser  # noqa: F401
from tests.chat.conftest import Chat, delivered_days_ago, image_upload, make_chat

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]


def in_thread(func, /, *args, **kwargs):
    """Run ORM work whose on-commit broadcasts use async_to_sync away from this thread, where
    Playwright's event loop runs."""

    def work():
        try:
            return func(*args, **kwargs)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(work).result()


@pytest.fixture
def chat(transactional_db) -> Chat:
    return in_thread(make_chat)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """uvicorn serving tests.chat.live_asgi on the test database, in a subprocess."""

    def __init__(self, log_path: Path) -> None:
        db = connection.settings_dict
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": f"postgis://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
            "DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "CHAT_LAYER_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
        }
        self.env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log_path.open("a") as log:
            self.process = subprocess.Popen(
                [
                    *(sys.executable, "-m", "uvicorn", "tests.chat.live_asgi:application"),
                    *("--host", "127.0.0.1", "--port", str(self.port), "--lifespan", "off"),
                ],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(self.log_path.read_text()) from None
                time.sleep(0.2)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


@pytest.fixture
def server(tmp_path) -> Iterator[Server]:
    running = Server(tmp_path / "uvicorn.log")
    running.start()
    try:
        yield running
    finally:
        running.stop()


def _logged_in(browser, base_url, user):  # noqa: F811
    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=base_url, locale="en-GB")
    context.set_default_timeout(10_000)
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}]
    )
    page = context.new_page()
    page.js_errors = []
    page.on("pageerror", lambda exc: page.js_errors.append(str(exc)))
    return page


def test_two_people_chat_live_in_their_browsers(browser, server, chat, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    url = f"/deliveries/{chat.delivery.pk}/chat/"
    sara = _logged_in(browser, server.url, chat.shipper)
    kurt = _logged_in(browser, server.url, chat.courier)
    for page in (sara, kurt):
        page.goto(url)
        expect(page.get_by_test_id("chat")).to_have_attribute("data-state", "live")

    # Kurt types: Sara sees it; Kurt sends with Enter: both see the message, contacts masked
    kurt.get_by_test_id("chat-input").fill("Hi Sara, I'm on +49 176 1234567")
    expect(sara.locator("[data-chat-typing]")).to_have_text("Kurt is typing…")
    kurt.get_by_test_id("chat-input").press("Enter")
    expect(sara.get_by_test_id("chat-message")).to_have_count(1)
    expect(sara.get_by_test_id("chat-message")).to_contain_text("Hi Sara, I'm on [phone hidden]")
    expect(kurt.get_by_test_id("chat-message")).to_contain_text("You")
    expect(kurt.get_by_test_id("chat-input")).to_have_value("")

    # Sara's page is open, so she has read it: Kurt sees "Seen"
    expect(kurt.locator("[data-chat-seen]")).to_have_text("Seen")
    message = Message.objects.get()
    assert ReadReceipt.objects.get(user=chat.shipper).last_read_message_id == message.pk

    # Sara sends a photo (over REST); it shows up on Kurt's page
    photo = tmp_path / "door.png"
    photo.write_bytes(image_upload("PNG").read())
    sara.get_by_test_id("chat-image").set_input_files(str(photo))
    sara.get_by_test_id("chat-input").fill("This door")
    sara.get_by_test_id("chat-send").click()
    expect(kurt.locator(".chat-image")).to_have_count(1)
    assert kurt.locator(".chat-image").get_attribute("src").startswith("/media/chat/")
    kurt.wait_for_function("() => document.querySelector('.chat-image').naturalWidth === 8")

    # A file that is not a photo is refused in the page before it is sent
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    sara.get_by_test_id("chat-image").set_input_files(str(text))
    sara.get_by_test_id("chat-send").click()
    expect(sara.locator("[data-chat-status]")).to_have_text(
        "Send a photo as a JPEG, PNG or WebP image."
    )
    assert Message.objects.count() == 2

    # Kurt's connection drops; what Sara writes meanwhile arrives when it is back
    # The server restarts: the page reconnects and fetches what was written meanwhile
    server.stop()
    expect(kurt.get_by_test_id("chat")).to_have_attribute("data-state", "closed")
    in_thread(services.message_post, delivery=chat.delivery, sender=chat.shipper, body="While away")
    server.start()
    expect(kurt.get_by_test_id("chat")).to_have_attribute("data-state", "live", timeout=15_000)
    expect(kurt.get_by_test_id("chat-message")).to_have_count(3)
    expect(kurt.get_by_test_id("chat-message").last).to_contain_text("While away")
    assert sara.js_errors == [] and kurt.js_errors == []
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    sara.screenshot(path=str(SCREENSHOTS / "chat-shipper.png"), full_page=True)
    kurt.screenshot(path=str(SCREENSHOTS / "chat-courier.png"), full_page=True)


def test_a_real_browser_gets_the_close_codes(browser, server, chat, stranger, settings):  # noqa: F811
    in_thread(delivered_days_ago, chat, settings.CHAT_CLOSE_DAYS + 1)
    sara = _logged_in(browser, server.url, chat.shipper)
    sara.goto(f"/deliveries/{chat.delivery.pk}/chat/")
    assert sara.get_by_test_id("chat").get_attribute("data-live") == "false"

    def close_code(page, path):
        return page.evaluate(
            """path => new Promise(resolve => {
                const ws = new WebSocket("ws://" + location.host + path);
                ws.onclose = event => resolve(event.code);
            })""",
            path,
        )

    ws = f"/ws/deliveries/{chat.delivery.pk}/chat/"
    assert close_code(sara, ws) == 4409
    assert close_code(sara, f"/ws/deliveries/{chat.delivery.pk + 999}/chat/") == 4404
    other = _logged_in(browser, server.url, stranger)
    other.goto("/")
    assert close_code(other, ws) == 4403
    anonymous = browser.new_context(base_url=server.url).new_page()
    anonymous.goto("/")
    assert close_code(anonymous, ws) == 4401
