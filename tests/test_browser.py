"""The web pages in a real headless Chromium (Debian's, driven by Playwright; nothing downloads a
browser). Screenshots go to test-results/screenshots/ for review.

`.ci/run` installs Chromium and sets UAI_REQUIRE_BROWSER=1, so there these tests always run; a
plain `make test` on a machine without Chromium skips them and says so.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import set_password, wait_for

pytestmark = pytest.mark.once

SCREENSHOTS = Path(__file__).resolve().parent.parent / "test-results" / "screenshots"
PASSWORD = "browser-pass-1"


@pytest.fixture
def page(chromium: Any, live: str, alice: httpx.Client, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A signed-in page of a fresh browser context (alice, through the sign-in form)."""
    set_password(alice.user, PASSWORD)
    context = chromium.new_context(base_url=live, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(20_000)
    page.goto("/")
    assert "/login/" in page.url  # the chat page needs a session
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{request.node.name}-end.png"), full_page=True)
    context.close()


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def pick_agent(page: Any, name: str) -> None:
    page.wait_for_selector(f"#agent option[value='{name}']", state="attached")
    page.select_option("#agent", name)
    page.click("#new-chat")
    page.wait_for_function("location.hash.startsWith('#chat=')")
    page.wait_for_selector(".messages .empty")
    page.wait_for_function("window.uaiChat && window.uaiChat.socket.readyState === 1")


def test_browser__sign_in_is_required_and_wrong_password_is_refused(
    chromium: Any, live: str, alice: httpx.Client
) -> None:
    set_password(alice.user, PASSWORD)
    context = chromium.new_context(base_url=live)
    page = context.new_page()
    page.goto("/runs/")
    assert "/login/" in page.url
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "wrong")
    page.click("button[type=submit]")
    assert page.locator(".error").inner_text().startswith("Your username and password didn't match")
    shot(page, "login-refused")
    context.close()


def test_browser__chat_with_steps(page: Any) -> None:
    pick_agent(page, "steps")
    page.fill("#text", "2+3*4")
    page.press("#text", "Enter")
    final = page.locator("[data-step=FinalAnswerStep]")
    final.wait_for()
    assert "14" in final.inner_text() and final.inner_text().startswith("✅")
    assert page.locator("[data-step=PlanningStep]").inner_text().startswith("💡")
    action = page.locator("details[data-step=ActionStep]").first
    assert action.locator("summary").inner_text().startswith("⚙️")
    assert not action.evaluate("d => d.open")  # the logs are collapsed until asked for
    action.locator("summary").click()
    assert action.locator("pre").is_visible()
    # message_end unlocked the input and hid the spinner
    page.wait_for_function("!document.getElementById('text').disabled")
    assert page.locator("#spinner").is_hidden()
    # the chat is listed and reopens with its history
    shot(page, "chat-steps")
    page.reload()
    page.locator("[data-step=FinalAnswerStep]").wait_for()
    assert page.locator(".msg.user").inner_text() == "2+3*4"


def test_browser__the_first_message_of_a_fresh_page_is_sent(page: Any) -> None:
    """No chat open: Enter makes one and sends — to a socket still connecting, which threw
    (InvalidStateError) after the text box was cleared, so the message was lost."""
    page.wait_for_selector("#agent option[value='echo']", state="attached")
    page.select_option("#agent", "echo")
    page.fill("#text", "first words")
    page.press("#text", "Enter")
    final = page.locator("[data-step=FinalAnswerStep]")
    final.wait_for()
    assert "first words" in final.inner_text()
    assert page.locator(".error").count() == 0


def test_browser__answers_render_markdown_safely(page: Any, alice: httpx.Client) -> None:
    pick_agent(page, "echo")
    page.fill("#text", "**bold** and <img src=x onerror=alert(1)> [site](https://example.org)")
    page.press("#text", "Enter")
    final = page.locator("[data-step=FinalAnswerStep] .markdown")
    final.wait_for()
    assert final.locator("strong").inner_text() == "bold"
    assert final.locator("img").count() == 0  # shown as text, never as HTML
    assert "<img src=x" in final.inner_text()
    link = final.locator("a")
    assert (
        link.get_attribute("href") == "https://example.org"
        and link.get_attribute("rel") == "noopener noreferrer"
    )


def test_browser__upload_a_file_to_echo(page: Any, tmp_path: Path) -> None:
    pick_agent(page, "echo")
    upload = tmp_path / "notes.txt"
    upload.write_text("hello from the browser")
    page.set_input_files("#files", str(upload))
    page.fill("#text", "here is a file")
    page.click("#send")
    page.locator("[data-step=FinalAnswerStep]").wait_for()
    page.locator("#artifacts-box:not([hidden])").wait_for()
    page.click("#artifacts-box summary")
    links = page.locator("#artifacts a")
    wait_for(lambda: links.count() >= 1)
    assert "notes.txt" in [links.nth(i).inner_text() for i in range(links.count())]
    href = links.first.get_attribute("href")
    downloaded = page.request.get(href)
    assert downloaded.ok and downloaded.body() == b"hello from the browser"
    assert "📎 notes.txt" in page.locator(".msg.user").inner_text()
    shot(page, "chat-upload")


def test_browser__agent_error_is_shown_in_place(page: Any) -> None:
    pick_agent(page, "fail")
    page.fill("#text", "go")
    page.press("#text", "Enter")
    error = page.locator(".msg.error")
    error.wait_for()
    assert error.inner_text().startswith("⚠️")
    page.wait_for_function("!document.getElementById('text').disabled")


def test_browser__runs_page_answers_a_question_and_cancels(page: Any) -> None:
    page.goto("/runs/")
    page.wait_for_selector("#run-agent option[value='slow']", state="attached")
    page.select_option("#run-agent", "slow")
    page.fill("#run-input", json.dumps({"steps": 4, "delay": 0.3, "ask": "Your name?"}))
    page.click("#start-run button[type=submit]")
    form = page.locator(".input-form")
    form.wait_for()
    assert page.locator(".input-prompt").inner_text() == "Your name?"
    assert page.locator("#run-detail .status-badge").inner_text() == "input_required"
    shot(page, "run-asks")
    page.fill(".input-text", "Ada")
    page.click(".input-form button")
    page.wait_for_function("document.querySelector('#run-detail .status-badge').textContent === 'succeeded'")
    assert "You answered: Ada" in page.locator(".output-body").inner_text()
    assert "step 1 of 4" in page.locator("pre.logs").inner_text()
    assert page.locator(".run-progress").evaluate("p => p.value") == 100
    shot(page, "run-succeeded")

    # another run, cancelled while it works
    first = page.evaluate("location.hash")
    page.fill("#run-input", json.dumps({"steps": 200, "delay": 0.2}))
    page.click("#start-run button[type=submit]")
    # The new run's view (not the last one's, still on screen for a moment), moved on by its
    # `progress` events.
    page.wait_for_function(
        "first => { const id = document.querySelector('#run-detail .run-id');"
        " const p = document.querySelector('#run-detail .run-progress');"
        " const step = document.querySelector('#run-detail .current-step');"
        " return location.hash !== first && id.textContent === location.hash.slice('#run='.length)"
        " && p.value > 0 && step.textContent.startsWith('step '); }",
        arg=first,
    )
    page.click(".cancel")
    page.wait_for_function("document.querySelector('#run-detail .status-badge').textContent === 'cancelled'")
    assert page.locator(".cancel").is_hidden()
    shot(page, "run-cancelled")


def test_browser__run_with_a_file_lists_its_artifacts(page: Any, tmp_path: Path) -> None:
    page.goto("/runs/")
    page.wait_for_selector("#run-agent option[value='echo']", state="attached")
    page.select_option("#run-agent", "echo")
    upload = tmp_path / "data.csv"
    upload.write_text("a,b\n1,2\n")
    page.set_input_files("#run-files", str(upload))
    page.fill("#run-input", "a file")
    page.click("#start-run button[type=submit]")
    page.wait_for_function("document.querySelector('#run-detail .status-badge')?.textContent === 'succeeded'")
    items = page.locator(".run-artifacts li", has_text="data.csv")
    wait_for(lambda: items.count() == 2)  # the upload, and the copy echo returned
    assert sorted(items.nth(i).inner_text().split("· ")[-1] for i in range(2)) == ["agent", "user"]
    for i in range(2):
        href = items.nth(i).locator("a").get_attribute("href")
        assert page.request.get(href).body() == b"a,b\n1,2\n"


def test_browser__dropped_connection_resumes_the_turn(page: Any, alice: httpx.Client) -> None:
    # The page's sockets go through Playwright, which can drop one as a network would: the page
    # learns of it at once. (The page closing its own socket waited for the server's side of the
    # close handshake, which under CI's load did not come within 20 s; and Chromium's offline
    # emulation does not stop WebSockets, microsoft/playwright#4910.)
    network = {"down": False}
    sockets: list[Any] = []

    def through_playwright(socket: Any) -> None:
        if network["down"]:
            socket.close(code=1001, reason="the network is down")  # no server to reach
            return
        socket.connect_to_server()
        sockets.append(socket)

    page.route_web_socket(re.compile(r"/chat/"), through_playwright)
    pick_agent(page, "slow")
    page.fill("#text", json.dumps({"steps": 5, "delay": 0.3}))
    page.press("#text", "Enter")
    page.wait_for_function("document.getElementById('text').disabled")  # locked while it works
    chat_id = page.evaluate("window.uaiChat.state.chat.id")
    # The connection drops mid-turn and stays down until the turn is over on the server.
    network["down"] = True
    page.context.set_offline(True)  # (REST too)
    sockets[-1].close(code=1001, reason="dropped")
    page.locator("#connection:not([hidden])").wait_for()
    assert "reconnecting" in page.locator("#connection").inner_text()
    shot(page, "chat-dropped")
    wait_for(lambda: alice.get(f"/chat/{chat_id}").json()["status"] != "running", timeout=20)
    assert page.locator("[data-step=FinalAnswerStep]").count() == 0
    network["down"] = False
    page.context.set_offline(False)
    # Back: the page resumes after the last event it saw and gets the end of the turn.
    final = page.locator("[data-step=FinalAnswerStep]")
    final.wait_for()
    assert "Done after 5 steps." in final.inner_text()
    page.wait_for_function("!document.getElementById('text').disabled")
    assert page.locator("#connection").is_hidden()
    time.sleep(0.5)
    assert final.count() == 1  # nothing shown twice
    shot(page, "chat-resumed")


def test_browser__a_chat_deleted_elsewhere_is_not_reconnected_to(page: Any, alice: httpx.Client) -> None:
    """Deleted in another tab: the page took the 4404 close for a drop and reconnected to the id,
    and its next message made a chat anew whose frames its old numbers then hid (the input
    stayed locked)."""
    pick_agent(page, "echo")
    page.fill("#text", "before")
    page.press("#text", "Enter")
    page.locator("[data-step=FinalAnswerStep]").wait_for()
    chat_id = page.evaluate("window.uaiChat.state.chat.id")
    assert alice.delete(f"/chat/{chat_id}").status_code == 204  # the other tab
    page.wait_for_function("document.getElementById('connection').innerText.includes('deleted')")
    assert page.evaluate("location.hash") == ""
    shot(page, "chat-deleted")
    # The next message starts a new chat, and is answered.
    page.fill("#text", "after")
    page.press("#text", "Enter")
    page.wait_for_function(f"location.hash.startsWith('#chat=') && !location.hash.includes({chat_id!r})")
    page.wait_for_function(
        "[...document.querySelectorAll('[data-step=FinalAnswerStep]')].some(e => e.innerText.includes('after'))"
    )
    page.wait_for_function("!document.getElementById('text').disabled")


def test_browser__api_docs_render_offline(page: Any, live: str) -> None:
    """Swagger UI comes from the server itself (drf-spectacular-sidecar), never from a CDN."""
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith((live, "data:")) else outside.append(r.url))
    page.goto("/api/docs/")
    title = page.locator(".swagger-ui .info .title")
    title.wait_for()
    assert "UAI" in title.inner_text()
    page.locator(".opblock-summary-path[data-path='/run/{task_id}/stream']").first.wait_for()
    assert not outside, outside
    shot(page, "api-docs")
