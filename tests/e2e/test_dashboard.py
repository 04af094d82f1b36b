"""The dashboard in a real headless browser: Debian's chromium driven by Playwright, against the running service.

The page loads with an API key, goes live on the event stream, shows a fill that happens after it loaded, draws the
equity chart, and halts and resumes trading with the kill switch.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# What a sandboxed root without network needs (see the machine notes): no sandbox, no background fetches.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _api(base_url: str, key: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{base_url}/api/v1/trading", headers={"Authorization": f"Bearer {key}"})


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists() and not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run installs it)", pytrace=False)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def page(browser: Browser, service: tuple[str, str]) -> AsyncIterator[Page]:
    base_url, key = service
    context = await browser.new_context(base_url=base_url, viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    await page.goto("/dashboard")
    await page.fill("#api-key", key)
    await page.click("#login button[type=submit]")
    await expect(page.locator("#stream-state")).to_have_text("live", timeout=15_000)
    yield page
    await context.close()
    assert errors == [], errors


async def test_a_fill_after_the_page_loaded_shows_up_live(page: Page, service: tuple[str, str]) -> None:
    base_url, key = service
    fills = page.locator("#fills tbody tr[data-id]")
    before = await fills.count()

    signal = {"strategy_id": "dashboard", "instrument_id": "BTC-USDT", "side": "buy", "size": "0.001"}
    async with _api(base_url, key) as api:
        placed = await api.post("/signals", json=signal)
        assert placed.status_code in (200, 201), placed.text
        order_id = placed.json()["id"]
        # The page learns of the fill from the stream alone: it is not reloaded and nothing here pokes it.
        await expect(fills).to_have_count(before + 1, timeout=15_000)
        [trade] = (await api.get("/trades", params={"order_id": order_id})).json()["items"]

    newest = fills.first
    await expect(newest).to_have_attribute("data-id", str(trade["id"]))
    await expect(newest).to_contain_text("BTC-USDT")
    await expect(newest).to_contain_text(trade["price"])
    await expect(page.locator("#events li[data-type=order_filled]").first).to_contain_text(f"order {order_id}")
    await expect(page.locator("#positions tbody")).to_contain_text("BTC-USDT")


async def test_the_equity_chart_renders(page: Page) -> None:
    chart = page.locator("#equity-chart")
    await expect(chart.locator("polyline.curve")).to_have_count(1)
    points = int(await chart.get_attribute("data-points") or 0)
    assert points >= 30  # one point per day of the default 30-day range
    drawn = (await chart.locator("polyline.curve").get_attribute("points") or "").split()
    assert len(drawn) == points
    box = await chart.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 100
    await page.screenshot(path=str(Path(os.environ.get("DASHBOARD_SCREENSHOT_DIR", "/tmp")) / "dashboard.png"))


async def test_the_kill_switch_halts_and_resumes(page: Page, service: tuple[str, str]) -> None:
    base_url, key = service
    page.on("dialog", lambda dialog: dialog.accept())
    button, state = page.locator("#kill-switch"), page.locator("#trading-state")
    await expect(state).to_have_text("active")

    await button.click()
    await expect(state).to_have_text("halted", timeout=10_000)
    async with _api(base_url, key) as api:
        assert (await api.get("/risk/kill-switch")).json()["state"] == "halted"
        refused = await api.post(
            "/signals", json={"strategy_id": "d", "instrument_id": "BTC-USDT", "side": "buy", "size": "0.001"}
        )
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "trading_halted"
        await expect(page.locator("#events li[data-type=kill_switch_changed]").first).to_be_visible()

        await expect(button).to_have_text("Resume trading")
        await button.click()
        await expect(state).to_have_text("active", timeout=10_000)
        assert (await api.get("/risk/kill-switch")).json()["state"] == "active"
