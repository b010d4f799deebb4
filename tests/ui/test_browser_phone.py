"""The dashboard on a phone, in a real headless Chromium (`python -m energy_ui`, the in-memory
demo), at 390 × 844 CSS px with touch: the filter drawer starts closed and the menu button opens
it, the status (the health first) fills the first screen, and on every tab nothing reaches past
the screen's right edge except inside a container that scrolls (a wide table, the tab bar).
At a desktop width the drawer is open beside the page, as before.

Skipped with the reason without Chromium, except under ``CI=true``. Screenshots are left in the
test's tmp folder (``phone-start.png``, ``phone-drawer.png``, ``phone-<tab>.png``,
``desktop.png``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.test_browser import CHROMIUM_ARGS, _chromium
from tests.ui.test_browser import server as server  # the served demo, one per module

pytestmark = pytest.mark.browser

STEP_MS = 10_000
"""Longest wait for any one step in Chromium; the whole module takes about 20 s here."""
PHONE: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
}
DESKTOP: dict[str, Any] = {"viewport": {"width": 1400, "height": 900}}
TABS = ("general", "variables", "comparatives", "anomalies", "records", "meters")
CONTENT = {
    "general": ".q-tab-panel .nicegui-echart canvas",
    "variables": ".q-tab-panel .nicegui-echart canvas",
    "comparatives": ".q-tab-panel .nicegui-echart canvas",
    "anomalies": ".q-tab-panel .nicegui-echart canvas",
    "records": ".q-tab-panel tbody tr",
    "meters": ".se-meters tbody tr",
}
"""What each tab shows once its data has arrived."""

OVERFLOW = """() => {
    const width = window.innerWidth;
    const name = (el) => el.tagName.toLowerCase()
        + Array.from(el.classList).slice(0, 3).map(c => '.' + c).join('');
    // An ancestor inside a card that scrolls sideways and itself fits (a wide table): its
    // content may be wider. So may Quasar's tab bar's, which its arrows and a swipe scroll.
    // Not the whole tab panel, which scrolls too: a chart wider than the screen would slide
    // the panel sideways. Clipping alone (the tab panels clip) hides what does not fit.
    const scroller = (el) => {
        for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
            const scrolls = (['auto', 'scroll'].includes(getComputedStyle(up).overflowX)
                             && up.parentElement.closest('.q-card'))
                || up.classList.contains('q-tabs__content');
            if (scrolls && up.getBoundingClientRect().right <= width + 1) return up;
        }
        return null;
    };
    const past = [];
    for (const el of document.querySelectorAll('body *')) {
        const box = el.getBoundingClientRect();
        if (box.width === 0 || box.height === 0 || box.right <= width + 1) continue;
        if (!scroller(el)) past.push(`${name(el)} ends at ${Math.round(box.right)} px`
            + ` (${(el.innerText || '').trim().slice(0, 30)})`);
    }
    const page = document.documentElement.scrollWidth;
    if (page > width) past.unshift(`the page is ${page} px wide`);
    return past.slice(0, 12);
}"""
"""What reaches past the viewport's right edge, outside any container that scrolls sideways."""

SETTLED = "!document.querySelector('[class*=\"q-transition--\"]')"
"""No Quasar transition running (a tab panel sliding in, the drawer)."""

DRAWER_RIGHT = "Math.round(document.querySelector('.q-drawer').getBoundingClientRect().right)"

UNCOVERED = """(selector) => {
    const el = document.querySelector(selector);
    const box = el.getBoundingClientRect();
    const centre = document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2);
    return box.top >= 0 && box.bottom <= window.innerHeight && el.contains(centre);
}"""
"""Whether the element lies wholly in the first screen and nothing (a drawer, its backdrop)
covers its centre."""


@pytest.fixture(scope="module")
def browser(server: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=_chromium(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Any, url: str, device: dict[str, Any]) -> tuple[Any, list[str]]:
    """A fresh page at ``url`` with the demo's charts drawn, and the list its errors go to."""
    page = browser.new_context(**device).new_page()
    page.set_default_timeout(STEP_MS)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(url)
    page.wait_for_selector(".nicegui-echart canvas", timeout=30_000)
    return page, errors


def nothing_past_the_edge(page: Any, where: str) -> None:
    """Fails naming what reaches past the right edge, given a few seconds to settle (the
    tab panels slide in, ECharts resizes to its card)."""
    page.wait_for_function(SETTLED)
    deadline = time.monotonic() + 5
    while past := page.evaluate(OVERFLOW):
        if time.monotonic() > deadline:
            pytest.fail(f"{where}: past the right edge:\n" + "\n".join(past))
        page.wait_for_timeout(200)


def test_on_a_phone_the_status_comes_first_and_nothing_is_wider_than_the_screen(
    browser: Any, server: str, tmp_path: Path
) -> None:
    page, errors = open_page(browser, server, PHONE)
    page.wait_for_timeout(500)  # the drawer would be sliding in now
    page.screenshot(path=tmp_path / "phone-start.png", scale="css")

    assert page.evaluate(DRAWER_RIGHT) <= 0, "the filter drawer is open at start"
    assert page.evaluate(UNCOVERED, ".se-health"), "the health is not in the first screen"
    nothing_past_the_edge(page, "the page at start")

    page.click(".se-menu")  # the button opens the drawer over the page...
    page.wait_for_function(f"{DRAWER_RIGHT} >= 300")
    page.wait_for_timeout(300)
    page.screenshot(path=tmp_path / "phone-drawer.png", scale="css")
    assert page.locator(".q-drawer .se-section").first.is_visible()  # "Filtros"
    page.touchscreen.tap(370, 400)  # ...and a touch beside it closes it
    page.wait_for_function(f"{DRAWER_RIGHT} <= 0")
    assert page.evaluate(UNCOVERED, ".se-health")

    for name in TABS:
        page.click(f"[data-tab={name}]")
        page.wait_for_selector(f"[data-tab={name}][aria-selected=true]")
        page.wait_for_selector(CONTENT[name], timeout=30_000)
        nothing_past_the_edge(page, f"the {name} tab")
        page.evaluate("document.querySelector('.q-tabs').scrollIntoView()")
        page.screenshot(path=tmp_path / f"phone-{name}.png", scale="css")
    assert errors == []


def test_at_a_desktop_width_the_drawer_stays_open_beside_the_page(
    browser: Any, server: str, tmp_path: Path
) -> None:
    page, errors = open_page(browser, server, DESKTOP)
    page.wait_for_timeout(500)
    page.screenshot(path=tmp_path / "desktop.png")

    assert page.evaluate(DRAWER_RIGHT) == 320
    assert not page.is_visible(".se-menu")
    status_left = "document.querySelector('.se-status').getBoundingClientRect().left"
    assert page.evaluate(status_left) >= 320  # beside the drawer, not under it
    assert page.evaluate(UNCOVERED, ".se-health")
    nothing_past_the_edge(page, "the desktop page")
    assert errors == []
