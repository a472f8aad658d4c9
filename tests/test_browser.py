"""The try-it page and the dashboard in a real headless Chromium, served by the real `python -m bot`.

Needs Debian's `chromium` and `chromium-driver` (`.ci/run` installs them);
without them the test skips and says so. Screenshots land in
`test-artifacts/` (not committed; README's screenshots were taken from them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.bot_process import ROOT, free_port
from tests.support.photos import FIXTURES

ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
ADMIN_TOKEN = "browser-test-admin-token"

pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="the headless browser test needs Debian's chromium and chromium-driver (.ci/run installs them)",
)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m bot` with no chat token: it serves the page; yields its address once it says so."""
    folder = tmp_path_factory.mktemp("bot")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_", "WEB_"))}
    env.update(
        PYTHONPATH=str(ROOT),
        DATABASE_PATH=str(folder / "bot.sqlite3"),
        WEB_PORT=str(free_port()),
        WEB_ADMIN_TOKEN=ADMIN_TOKEN,
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "bot"], cwd=folder, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("Try it in a browser: "), (line, process.stderr.read() if process.poll() else "")
        yield line.split(": ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tempfile.mkdtemp()}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    ARTIFACTS.mkdir(exist_ok=True)
    yield driver
    driver.quit()


def wait_for(condition, timeout: float = 30.0):
    """Poll a condition of the page (the browser's state, not time) until it gives something."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(None, timeout).until(lambda _: condition())


def test_the_page_answers_a_photo_on_a_phone_sized_screen(site: str, browser) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    browser.get(site)
    assert "Hashtags for a photo" in browser.page_source
    photo = FIXTURES / "coco_000000000599.jpg"
    browser.find_element(By.ID, "file").send_keys(str(photo))
    tags = wait_for(lambda: browser.find_element(By.ID, "tags").text or None)
    assert browser.find_element(By.ID, "subject").text.startswith("a cat")
    assert len(tags.split()) == 5 and all(t.startswith("#") for t in tags.split())
    count = browser.find_element(By.ID, "count")
    count.clear()
    count.send_keys("8")
    assert wait_for(lambda: len(browser.find_element(By.ID, "tags").text.split()) == 8 or None), "no new upload"
    browser.find_element(By.ID, "counts").click()
    assert browser.find_element(By.ID, "tiers").is_displayed()
    browser.find_element(By.ID, "copy").click()
    assert wait_for(lambda: browser.find_element(By.ID, "copy").text == "Copied" or None)
    assert browser.execute_script("return document.documentElement.scrollWidth <= window.innerWidth"), "fits the phone"
    browser.execute_script("window.scrollTo(0, 0)")
    browser.save_screenshot(str(ARTIFACTS / "page.png"))


def test_a_bad_file_gets_the_chat_message(site: str, browser, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    notes = tmp_path / "notes.pdf"
    notes.write_bytes(b"%PDF-1.4 not a photo")
    browser.get(site)
    browser.find_element(By.ID, "file").send_keys(str(notes))
    message = wait_for(lambda: (text := browser.find_element(By.ID, "status").text) != "Looking at the photo…" and text)
    assert "PDF document, not a photo" in message, "the status moves on from 'Looking at the photo…' to the refusal"


def test_the_dashboard_opens_with_the_token_only(site: str, browser) -> None:
    from selenium.webdriver.common.by import By

    browser.set_window_size(1200, 1400)
    browser.get(f"{site}/admin")
    field = browser.find_element(By.ID, "admin-token")
    field.send_keys("not-the-token")
    browser.find_element(By.CSS_SELECTOR, "#login button").click()
    assert "Wrong or missing admin token" in wait_for(lambda: browser.find_element(By.ID, "status").text or None)
    assert not browser.find_elements(By.CSS_SELECTOR, "#dashboard svg")
    field.clear()
    field.send_keys(ADMIN_TOKEN)
    browser.find_element(By.CSS_SELECTOR, "#login button").click()
    charts = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#dashboard svg") or None)
    assert len(charts) >= 3 and "Requests per day" in browser.page_source
    browser.save_screenshot(str(ARTIFACTS / "dashboard.png"))
    assert ADMIN_TOKEN not in browser.current_url
