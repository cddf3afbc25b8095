"""The runs page, the shared layout and the admin lists in a real headless Chromium: phone width
(390x844), labels, landmarks and focus, dark-mode contrast, the favicon, one-line ids in the admin.

Screenshots (desktop 1280x800, phone 390x844, dark mode) go to test-results/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import set_password, wait_for
from tests.test_browser import PASSWORD, shot

pytestmark = pytest.mark.once

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 800}

Open = Callable[..., Any]


@pytest.fixture
def open_page(chromium: Any, live: str, alice: httpx.Client) -> Iterator[Open]:
    """Opens a page signed in as alice (through the sign-in form) at a viewport and colour scheme;
    every 404 any page of it gets is collected in ``page.not_found``."""
    set_password(alice.user, PASSWORD)
    contexts: list[Any] = []

    def open_(path: str, viewport: dict[str, int] = DESKTOP, color_scheme: str = "light") -> Any:
        context = chromium.new_context(base_url=live, viewport=viewport, color_scheme=color_scheme)
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.not_found = []
        page.on("response", lambda r: r.status == 404 and page.not_found.append(r.url))
        page.goto(path)
        assert "/login/" in page.url
        page.fill("input[name=username]", "alice")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(re.compile(re.escape(path) + "$"))
        return page

    yield open_
    for context in contexts:
        context.close()


def luminance(color: str) -> float:
    """The relative luminance (WCAG) of a computed ``rgb(r, g, b)`` colour."""
    channels = [int(c) / 255 for c in re.findall(r"\d+", color)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(page: Any, selector: str) -> float:
    """The contrast ratio of an element's text colour against its own background colour."""
    fg, bg = page.locator(selector).first.evaluate(
        "e => { const s = getComputedStyle(e); return [s.color, s.backgroundColor]; }"
    )
    light, dark = sorted([luminance(fg), luminance(bg)], reverse=True)
    return (light + 0.05) / (dark + 0.05)


def test_browser_runs__phone_width_start_is_visible_and_the_run_is_listed(open_page: Open) -> None:
    page = open_page("/runs/", PHONE)
    page.wait_for_selector("#run-agent option[value='echo']", state="attached")
    shot(page, "runs-phone-390")

    start = page.get_by_role("button", name="Start")
    start.scroll_into_view_if_needed()
    box = start.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], box
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scroll

    page.get_by_label("Agent").select_option("echo")
    page.get_by_label("Input").fill("hello from a phone")
    start.click()
    page.wait_for_function("document.querySelector('#run-detail .status-badge')?.textContent === 'succeeded'")
    runs = page.locator("#runs li")
    runs.first.wait_for()
    assert "echo" in runs.first.inner_text()
    page.locator("#runs").scroll_into_view_if_needed()
    list_box = page.locator("#runs").bounding_box()
    row_height = page.evaluate("document.querySelector('#runs li').getBoundingClientRect().height")
    assert list_box is not None and list_box["height"] >= row_height > 0
    assert page.locator("#runs").is_visible()
    assert list_box["x"] >= 0 and list_box["x"] + list_box["width"] <= PHONE["width"]
    # the header fits too: brand, nav and sign-out inside the width
    for selector in [".topbar .brand", ".topbar nav", ".signout button"]:
        item = page.locator(selector).bounding_box()
        assert item is not None and item["x"] + item["width"] <= PHONE["width"], (selector, item)
    page.evaluate("window.scrollTo(0, 0)")
    shot(page, "runs-phone-390-with-run")
    assert page.not_found == []


def test_browser_runs__labels_landmarks_and_first_focus(open_page: Open) -> None:
    page = open_page("/runs/")
    page.wait_for_selector("#run-agent option[value='echo']", state="attached")
    # focus starts in the run's input, not on the first link of the header
    assert page.evaluate("document.activeElement.id") == "run-input"
    for label, element_id in [("Agent", "run-agent"), ("Input", "run-input"), ("Files", "run-files")]:
        assert page.get_by_label(label, exact=True).get_attribute("id") == element_id
    # every form control on the page has an accessible name, every button a text
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button')]
            .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label')
                         && !(e.tagName === 'BUTTON' && e.textContent.trim()))
            .map(e => e.outerHTML)"""
    )
    assert unnamed == []
    assert page.get_by_role("banner").count() == 1
    assert page.get_by_role("main").count() == 1
    assert page.get_by_role("navigation", name="Main").count() == 1
    # the skip link comes first in the keyboard's order and leads to the main landmark
    first = "document.querySelector('a[href], button, input, select, textarea').textContent"
    assert page.evaluate(first) == "Skip to content"
    page.get_by_role("link", name="Skip to content").focus()
    assert page.get_by_role("link", name="Skip to content").is_visible()  # shown when focused
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    shot(page, "runs-desktop-1280")
    assert page.not_found == []


def test_browser_runs__login_is_labelled_and_focused(chromium: Any, live: str) -> None:
    context = chromium.new_context(base_url=live, viewport=PHONE)
    page = context.new_page()
    page.goto("/login/")
    assert page.evaluate("document.activeElement.name") == "username"
    assert page.get_by_label("Username").get_attribute("name") == "username"
    assert page.get_by_label("Password").get_attribute("type") == "password"
    assert page.get_by_role("main").count() == 1
    assert page.locator("link[rel=icon]").count() == 1
    shot(page, "login-phone-390")
    context.close()


def test_browser_runs__dark_mode_has_readable_contrast(open_page: Open) -> None:
    page = open_page("/runs/", DESKTOP, "dark")
    page.wait_for_selector("#run-agent option[value='echo']", state="attached")
    assert page.evaluate("matchMedia('(prefers-color-scheme: dark)').matches")
    assert contrast(page, "#start-run button[type=submit]") >= 4.5
    assert contrast(page, "body") >= 7
    page.fill("#run-input", "dark")
    page.click("#start-run button[type=submit]")
    page.wait_for_function("document.querySelector('#run-detail .status-badge')?.textContent === 'succeeded'")
    for selector in [".sidebar h2", ".topbar nav a", "#run-detail .status-badge"]:
        fg = page.locator(selector).first.evaluate("e => getComputedStyle(e).color")
        bg = page.locator(selector).first.evaluate(
            "e => { let n = e; while (n) { const c = getComputedStyle(n).backgroundColor;"
            " if (c !== 'rgba(0, 0, 0, 0)') return c; n = n.parentElement; } return 'rgb(255,255,255)'; }"
        )
        light, dark = sorted([luminance(fg), luminance(bg)], reverse=True)
        assert (light + 0.05) / (dark + 0.05) >= 4.5, (selector, fg, bg)
    shot(page, "runs-dark-1280")
    phone = open_page("/runs/", PHONE, "dark")
    phone.wait_for_selector("#run-agent option[value='echo']", state="attached")
    shot(phone, "runs-dark-phone-390")


def test_browser_runs__favicon_is_served(live: str, open_page: Open) -> None:
    response = httpx.get(f"{live}/favicon.ico", follow_redirects=True, timeout=10)
    assert response.status_code == 200
    assert response.history and response.history[0].status_code == 301
    assert response.headers["content-type"].startswith("image/svg+xml")
    page = open_page("/runs/")
    icon = page.locator("link[rel=icon]").get_attribute("href")
    assert httpx.get(f"{live}{icon}", timeout=10).status_code == 200
    assert page.not_found == []


def test_browser_runs__admin_run_ids_are_one_line(
    chromium: Any, live: str, alice: httpx.Client, user_client: Any
) -> None:
    alice.post("/chat/", json={"agent": "echo"}).raise_for_status()
    task = alice.post("/run/", json={"agent": "echo", "input": "for the admin"}).json()["task_id"]
    wait_for(lambda: alice.get(f"/run/{task}").json()["status"] == "succeeded")
    operator = user_client("operator", is_staff=True, is_superuser=True)
    set_password(operator.user, PASSWORD)
    context = chromium.new_context(base_url=live, viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto("/admin/login/?next=/admin/runs/run/")
    page.fill("input[name=username]", "operator")
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(re.compile(r"/admin/runs/run/$"))
    cell = page.locator("#result_list .field-short_id").first
    assert cell.inner_text().strip() == task[:8]
    assert cell.locator(".uai-id").get_attribute("title") == task
    line = cell.locator(".uai-id").evaluate("e => parseFloat(getComputedStyle(e).lineHeight) || 18")
    box = cell.locator(".uai-id").bounding_box()
    assert box is not None and box["height"] < 1.5 * line, (box, line)
    shot(page, "admin-runs-1280")
    # the chat list's ids too; the artifact and webhook lists load with their short columns
    page.goto("/admin/chats/chat/")
    chat_id = page.locator("#result_list .field-short_id .uai-id").first
    chat_box = chat_id.bounding_box()
    assert chat_box is not None and chat_box["height"] < 1.5 * line
    for path in ["/admin/artifacts/artifact/", "/admin/webhooks/webhook/"]:
        response = page.goto(path)
        assert response is not None and response.status == 200, path
    context.close()
