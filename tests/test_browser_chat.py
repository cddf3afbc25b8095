"""The chat page (/) in a real headless Chromium: the working bubble, Stop and Retry, the agent's
question, files, the chat list, the phone layout and accessibility — and the socket frames the page
opts into (``?live=1``) next to seed 001's, which stay the same for every other client.
Screenshots (desktop, 390 px, dark) go to test-results/screenshots/ for review."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.conftest import register, set_password, token_of, wait_for, ws_url
from tests.test_browser import PASSWORD, shot

pytestmark = pytest.mark.once

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def chat_agents(live: str) -> None:
    register(
        "chat-worker",
        "tests.chat_agents:works_a_while",
        description="Works a while, logs, makes files.",
        accepts_files=True,
    )
    register(
        "chat-asker", "tests.chat_agents:asks_a_question", description="Asks which colour.", asks_input=True
    )


def signed_in(chromium: Any, live: str, alice: httpx.Client, **context: Any) -> tuple[Any, Any]:
    set_password(alice.user, PASSWORD)
    browser_context = chromium.new_context(base_url=live, **{"viewport": DESKTOP, **context})
    page = browser_context.new_page()
    page.set_default_timeout(20_000)
    page.goto("/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    page.wait_for_selector("#agent option", state="attached")
    return browser_context, page


@pytest.fixture
def chat_page(chromium: Any, live: str, alice: httpx.Client, chat_agents: None) -> Iterator[Any]:
    context, page = signed_in(chromium, live, alice)
    yield page
    context.close()


def open_agent(page: Any, name: str) -> None:
    page.wait_for_selector(f"#agent option[value='{name}']", state="attached")
    page.select_option("#agent", name)
    page.click("#new-chat")
    page.wait_for_function("location.hash.startsWith('#chat=')")
    page.wait_for_selector(".messages .empty")
    page.wait_for_function("window.uaiChat && window.uaiChat.socket.readyState === 1")


def say(page: Any, text: str) -> None:
    page.fill("#text", text)
    page.press("#text", "Enter")


def test_chat__working_bubble_shows_step_progress_and_logs_then_stop_and_retry(chat_page: Any) -> None:
    page = chat_page
    open_agent(page, "chat-worker")
    say(page, "please stop me")
    bubble = page.locator(".msg.working")
    page.wait_for_function("document.querySelector('.msg.working .logs')?.textContent.includes('log line 2')")
    assert re.match(r"phase \d of 4", bubble.locator(".current").inner_text())
    assert bubble.locator("progress").evaluate("p => p.value") >= 25
    assert page.locator("#stop").is_visible() and page.locator("#retry").is_hidden()
    shot(page, "chat-working-desktop")
    page.wait_for_function("!document.getElementById('stop').disabled")
    started = time.monotonic()
    page.click("#stop")
    bubble.wait_for(state="detached", timeout=2_000)  # cancelled, and message_end came, within 2 s
    assert time.monotonic() - started < 2
    page.wait_for_function("!document.getElementById('text').disabled")
    assert page.locator("#stop").is_hidden()
    # Retry sends the last message again: a second user bubble and a new working bubble.
    page.click("#retry")
    wait_for(lambda: page.locator(".msg.user").count() == 2)
    assert page.locator(".msg.user").nth(1).inner_text() == "please stop me"
    bubble.wait_for()
    page.wait_for_function("!document.getElementById('stop').disabled")
    page.click("#stop")
    bubble.wait_for(state="detached", timeout=2_000)


def test_chat__after_a_reload_mid_turn_stop_cancels_at_once(chat_page: Any) -> None:
    page = chat_page
    open_agent(page, "chat-worker")
    say(page, "reload me")
    page.wait_for_function("document.querySelector('.msg.working .logs')?.textContent.includes('log line 1')")
    # Whether Stop could be clicked when the working bubble came back: from the chat's messages,
    # before any frame of the turn names its run.
    page.add_init_script(
        """window.stopDisabledWhenWorking = null;
        new MutationObserver(() => {
          if (window.stopDisabledWhenWorking === null && document.querySelector('.msg.working'))
            window.stopDisabledWhenWorking = document.getElementById('stop').disabled;
        }).observe(document, { subtree: true, childList: true });"""
    )
    page.reload()
    page.locator(".msg.working").wait_for()
    assert page.evaluate("window.stopDisabledWhenWorking") is False
    started = time.monotonic()
    page.click("#stop")
    page.locator(".msg.working").wait_for(state="detached", timeout=2_000)
    assert time.monotonic() - started < 2


def test_chat__a_chat_opened_before_the_first_list_arrives_keeps_its_socket(
    chromium: Any, live: str, alice: httpx.Client, chat_agents: None
) -> None:
    """The first load routes to the chat in the address once the chat list has come. When the list
    was slow and "New chat" had opened one meanwhile, that route opened it again: the live socket
    was dropped and the page reloaded under a running turn (once seen as a drop never reported)."""
    set_password(alice.user, PASSWORD)
    context = chromium.new_context(base_url=live, viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(20_000)
    held: list[Any] = []

    def hold_first_list(route: Any) -> None:
        if route.request.method == "GET" and not held:
            held.append(route)  # answered below, after the click
        else:
            route.continue_()

    page.goto("/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", PASSWORD)
    page.route(re.compile(r"/chat/$"), hold_first_list)
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    open_agent(page, "chat-worker")
    wait_for(lambda: bool(held))
    say(page, "keep me")
    page.locator(".msg.working").wait_for()
    held[0].continue_()  # the first list arrives now, then the first load's route
    page.wait_for_function("document.querySelectorAll('#chats a').length >= 1")
    time.sleep(1)
    assert len(sockets) == 1, sockets
    assert page.locator(".msg.user").inner_text() == "keep me"
    assert page.evaluate("window.uaiChat.socket.readyState") == 1
    page.click("#stop")
    page.locator(".msg.working").wait_for(state="detached")
    context.close()


def test_chat__a_question_is_marked_and_answered_in_place(chat_page: Any) -> None:
    page = chat_page
    open_agent(page, "chat-asker")
    say(page, "hello")
    question = page.locator(".msg.question")
    question.wait_for()
    assert "Question from the agent" in question.inner_text() and "Which colour?" in question.inner_text()
    page.wait_for_function("!document.getElementById('text').disabled")
    assert page.locator("#text-label").inner_text() == "Your answer to the agent's question"
    assert page.get_attribute("#text", "placeholder") == "Answer the agent's question…"
    assert page.locator("#composer.answering").count() == 1
    shot(page, "chat-question-desktop")
    say(page, "blue")
    final = page.locator("[data-step=FinalAnswerStep]")
    final.wait_for()
    assert "you said blue" in final.inner_text()
    assert "answered" in (question.get_attribute("class") or "")
    assert page.locator("#text-label").inner_text() == "Message"


def test_chat__files_are_removable_before_sending_and_agent_files_sit_on_their_answer(
    chat_page: Any, tmp_path: Path
) -> None:
    page = chat_page
    open_agent(page, "chat-worker")
    keep, drop = tmp_path / "keep.txt", tmp_path / "drop.txt"
    keep.write_text("kept")
    drop.write_text("dropped")
    page.set_input_files("#files", [str(keep), str(drop)])
    chips = page.locator("#file-chips li")
    assert chips.count() == 2
    shot(page, "chat-file-chips-desktop")
    page.click("button[aria-label='Remove drop.txt']")
    assert chips.count() == 1 and "keep.txt" in chips.inner_text()
    page.fill("#text", "quick")
    page.click("#send")
    assert page.locator(".msg.user .hint").inner_text().endswith(" keep.txt")
    answer_files = page.locator("[data-step=FinalAnswerStep] .files a")
    wait_for(lambda: answer_files.count() == 2)
    assert answer_files.all_inner_texts() == ["notes.txt", "notes (2).txt"]
    assert chips.count() == 0
    shot(page, "chat-files-on-answer-desktop")
    # Reopened, the files are still on their answer.
    page.reload()
    wait_for(lambda: page.locator("[data-step=FinalAnswerStep] .files a").count() == 2)


def test_chat__list_titles_rename_search_delete(chat_page: Any, alice: httpx.Client) -> None:
    page = chat_page
    open_agent(page, "echo")
    long_text = "What is the weather like in Lisbon tomorrow morning, and should I take an umbrella?"
    say(page, long_text)
    page.locator("[data-step=FinalAnswerStep]").wait_for()
    link = page.locator("#chats li.active a")
    wait_for(lambda: link.inner_text().startswith("What is the weather"))
    assert link.inner_text().endswith("…") and len(link.inner_text()) == 61
    open_agent(page, "echo")
    say(page, "second chat")
    page.locator("[data-step=FinalAnswerStep]").wait_for()
    wait_for(lambda: page.locator("#chats a", has_text="second chat").count() == 1)
    # Search filters the list.
    page.fill("#chat-search", "lisbon")
    wait_for(lambda: page.locator("#chats a").count() == 1)
    assert page.locator("#chats a").inner_text().startswith("What is the weather")
    shot(page, "chat-list-search-desktop")
    page.fill("#chat-search", "")
    # Rename (a prompt) and delete (a confirm).
    page.once("dialog", lambda dialog: dialog.accept("Trip plans"))
    page.locator("#chats li", has_text="What is the weather").locator("button.rename").click()
    wait_for(lambda: page.locator("#chats a", has_text="Trip plans").count() == 1)
    assert any(c["name"] == "Trip plans" for c in alice.get("/chat/").json())
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#chats li", has_text="second chat").locator("button.delete").click()
    wait_for(lambda: page.locator("#chats a", has_text="second chat").count() == 0)
    assert page.locator(".messages .empty").count() == 1  # the open chat was the deleted one
    assert all(c["name"] != "second chat" for c in alice.get("/chat/").json())


def test_chat__a_chat_made_through_another_api_is_listed_by_its_first_message(
    chat_page: Any, alice: httpx.Client
) -> None:
    page = chat_page
    made = alice.post("/v1/conversations", json={"metadata": {}}).json()["id"]
    turn = alice.post(
        "/v1/responses", json={"model": "echo", "conversation": made, "input": "Plan   a\nweekend in Porto"}
    )
    assert turn.status_code == 200, turn.text
    page.reload()
    link = page.locator(f"#chats a[data-chat='{made}']")
    wait_for(lambda: link.count() == 1 and link.inner_text() == "Plan a weekend in Porto")


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_chat__phone_layout_and_accessibility(
    chromium: Any, live: str, alice: httpx.Client, chat_agents: None, scheme: str
) -> None:
    context, page = signed_in(chromium, live, alice, viewport=PHONE, color_scheme=scheme)
    try:
        # Focus starts in the message box, which has a label; the file button says what it is.
        assert page.evaluate("document.activeElement.id") == "text"
        assert page.locator("label[for=text]").inner_text() == "Message"
        attach = page.locator("label.attach")
        assert attach.get_attribute("aria-label") == "Attach files"
        # The sidebar is behind a button: the conversation has the height.
        assert page.locator("#sidebar").is_hidden()
        toggle = page.locator("#sidebar-toggle")
        assert toggle.is_visible() and toggle.bounding_box()["height"] < 60
        conversation = page.locator(".conversation").bounding_box()
        assert conversation["height"] > 844 * 0.75
        page.click("#sidebar-toggle")
        assert page.locator("#sidebar").is_visible() and toggle.get_attribute("aria-expanded") == "true"
        shot(page, f"chat-phone-sidebar-{scheme}")
        page.select_option("#agent", "chat-worker")
        page.click("#new-chat")
        page.wait_for_function("window.uaiChat && window.uaiChat.socket.readyState === 1")
        page.click("#sidebar-toggle")
        assert page.locator("#sidebar").is_hidden()
        say(page, "a phone turn")
        page.wait_for_function(
            "document.querySelector('.msg.working .logs')?.textContent.includes('log line')"
        )
        # Step icons have words next to them (an emoji without a font is an empty box).
        page.locator("[data-step=FinalAnswerStep]").wait_for()
        assert "Answer" in page.locator("[data-step=FinalAnswerStep] .icon-label").inner_text()
        # Nothing is wider than the screen.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
        shot(page, f"chat-phone-{scheme}")
        page.set_viewport_size(DESKTOP)
        shot(page, f"chat-desktop-{scheme}")
    finally:
        context.close()


# ---- the socket: seed 001's frames unchanged, the page's frames opted in, a hint without a token ----


def in_thread(coroutine: Any) -> Any:
    """Run a websockets scenario on a loop of its own (Playwright's sync API holds this thread's)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


async def turn_frames(live: str, client: httpx.Client, chat_id: str, query: str) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {token_of(client)}"}
    url = ws_url(live, f"/chat/{chat_id}{query}")
    got: list[dict[str, Any]] = []
    async with websockets.connect(url, additional_headers=headers) as ws:
        await ws.send(json.dumps({"type": "client", "message": "quick", "message_id": "m1"}))
        while not got or got[-1]["type"] != "message_end":
            got.append(json.loads(await asyncio.wait_for(ws.recv(), 20)))
    return got


def test_socket__live_frames_only_when_asked(live: str, alice: httpx.Client, chat_agents: None) -> None:
    plain = in_thread(turn_frames(live, alice, "plain-chat", "?agent=chat-worker"))
    live_frames = in_thread(turn_frames(live, alice, "live-chat", "?agent=chat-worker&live=1"))
    # Without ?live=1: exactly seed 001's frames — a final answer's step, then message_end.
    assert [(f["type"], f.get("step_type")) for f in plain] == [
        ("agent_step", "FinalAnswerStep"),
        ("message_end", None),
    ]
    assert set(plain[0]) == {"type", "step_type", "message", "message_id", "chat_id", "seq"}
    assert set(plain[1]) == {"type", "message_id", "chat_id", "seq"}
    # With it: the same seed frames, and the page's own around them.
    seed = [f for f in live_frames if not f["type"].startswith("uai_")]
    assert [(f["type"], f.get("step_type"), f.get("message")) for f in seed] == [
        (f["type"], f.get("step_type"), f.get("message")) for f in plain
    ]
    assert [set(f) for f in seed] == [set(f) for f in plain]
    kinds = [f["type"] for f in live_frames]
    assert {"uai_status", "uai_progress", "uai_log", "uai_artifact"} <= set(kinds)
    progress = next(f for f in live_frames if f["type"] == "uai_progress")
    assert (
        progress["current_step"] == "phase 1 of 4"
        and progress["run_id"]
        and progress["chat_id"] == "live-chat"
    )
    artifacts = [f["name"] for f in live_frames if f["type"] == "uai_artifact"]
    assert artifacts == ["notes.txt", "notes.txt"]


def test_socket__without_a_token_is_told_how_to_sign_in(live: str, alice: httpx.Client) -> None:
    in_thread(told_how_to_sign_in(live, alice))


async def told_how_to_sign_in(live: str, alice: httpx.Client) -> None:
    for url in [ws_url(live, "/chat/some-chat"), ws_url(live, "/chat/some-chat?token=wrong")]:
        async with websockets.connect(url) as ws:  # accepted (a refused handshake says nothing)
            hint = json.loads(await asyncio.wait_for(ws.recv(), 5))
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
        assert hint["type"] == "agent_error" and hint["chat_id"] == "some-chat"
        assert "?token=" in hint["error"] and "session cookie" in hint["error"]
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    # With a token, the same chat opens.
    async with websockets.connect(ws_url(live, f"/chat/some-chat?agent=echo&token={token_of(alice)}")) as ws:
        await ws.send(json.dumps({"type": "client", "message": "hi", "message_id": "1"}))
        assert json.loads(await asyncio.wait_for(ws.recv(), 10))["type"] == "agent_step"
