"""examples/web: the two static pages built on the official front-end clients (@ag-ui/client's
HttpAgent, the AI SDK's DefaultChatTransport), in a real headless Chromium against the live server.

The pages are built as their README says (`npm install && npm run build`: the clients bundled into
``vendor/``) in ``var/test-examples-web/``, once per package.json. The browser fetches them from
``http://localhost:3000`` — answered from that folder by Playwright (nothing listens there), so
the page runs on another origin than UAI, as a front end on its dev server does, and reaches UAI
through CORS (conftest.TEST_ENV allows that origin). (A page of a public, plain-http origin may
not call a loopback address at all: Chromium's Private Network Access.)
"""

from __future__ import annotations

import mimetypes
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlparse

import httpx
import pytest

from tests.conftest import NPM_INSTALL_SECONDS, ROOT, npm_project, register, token_of

pytestmark = pytest.mark.once

SOURCE = ROOT / "examples" / "web"
WORK = ROOT / "var" / "test-examples-web"
FRONT = "http://localhost:3000"  # an origin UAI_CORS_ALLOWED_ORIGINS allows in the tests


@pytest.fixture(scope="module")
def built() -> Path:
    """examples/web copied into ``WORK``, installed (once per package.json) and built."""
    npm_project(SOURCE, WORK)
    build = subprocess.run(
        ["npm", "run", "build"], cwd=WORK, capture_output=True, text=True, timeout=NPM_INSTALL_SECONDS
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert (WORK / "vendor" / "ag-ui.js").is_file() and (WORK / "vendor" / "ai.js").is_file()
    return WORK


def _serve_from(folder: Path) -> Any:
    """A Playwright route handler answering ``FRONT``'s requests from ``folder`` (404 outside it)."""

    def handle(route: Any) -> None:
        relative = urlparse(route.request.url).path.lstrip("/")
        path = (folder / relative).resolve()
        if not path.is_file() or folder.resolve() not in path.parents:
            route.fulfill(status=404, body="not found")
            return
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if path.suffix in {".js", ".mjs"}:
            kind = "text/javascript"
        route.fulfill(status=200, body=path.read_bytes(), headers={"content-type": kind})

    return handle


@pytest.fixture
def open_example(chromium: Any, built: Path, alice: httpx.Client) -> Iterator[Any]:
    """Open an example page (by file name) for alice's token and an agent; the page."""
    context = chromium.new_context(viewport={"width": 1100, "height": 800})
    # The page's address space is unknown to Chromium (Playwright answers it): the user's consent
    # to reach the loopback address UAI listens on, which a page really on localhost needs not.
    context.grant_permissions(["local-network-access"], origin=FRONT)
    context.route(f"{FRONT}/**", _serve_from(built))
    errors: list[str] = []

    def opened(name: str, agent: str) -> Any:
        page = context.new_page()
        page.set_default_timeout(20_000)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        query = urlencode(
            {"server": str(alice.base_url).rstrip("/"), "token": token_of(alice), "agent": agent}
        )
        page.goto(f"{FRONT}/{name}?{query}")
        return page

    yield opened
    context.close()
    assert errors == []  # no uncaught error in any page


def say(page: Any, text: str) -> None:
    """Send ``text`` and wait until the page has shown the whole answer."""
    done = page.locator(".line.done").count()
    page.fill("#text", text)
    page.click("#go")
    try:
        page.locator(".line.done").nth(done).wait_for(state="attached")
    except Exception:
        raise AssertionError("no answer; the page shows: " + page.locator("#log").inner_text()) from None


def test_agui_page__a_turn_with_steps_streams_its_answer(open_example: Any) -> None:
    page = open_example("agui.html", "steps")
    say(page, "what is 2+3*4?")
    assert page.locator(".line.step").count() >= 1  # the plan
    assert page.locator(".line.tool").count() >= 1  # the calculation, a tool call
    assert page.locator(".line.agent").last.text_content() == "14"
    assert page.locator(".line.error").count() == 0


def test_agui_page__a_question_is_answered_by_the_next_message(open_example: Any) -> None:
    register("polite", "tests.agents:polite")
    page = open_example("agui.html", "polite")
    say(page, "hi")
    assert page.locator(".line.question").last.text_content() == "? Who is asking?"
    say(page, "Ann")
    assert page.locator(".line.agent").last.text_content() == "Hello, Ann"
    assert page.locator(".line.error").count() == 0


def test_ai_sdk_page__a_turn_with_steps_streams_its_answer(open_example: Any) -> None:
    page = open_example("ai-sdk.html", "steps")
    say(page, "what is 2+3*4?")
    assert page.locator(".answer .line.step").count() >= 1  # the plan, as reasoning
    assert page.locator(".answer .line.tool").count() >= 1  # the calculation, a tool call
    assert page.locator(".answer .line.agent").last.text_content() == "14"
    assert page.locator(".line.error").count() == 0


def test_ai_sdk_page__a_question_is_answered_by_the_next_message(open_example: Any) -> None:
    register("polite", "tests.agents:polite")
    page = open_example("ai-sdk.html", "polite")
    say(page, "hi")
    assert page.locator(".answer .line.question").last.text_content() == "? Who is asking?"
    say(page, "Ann")
    assert page.locator(".answer .line.agent").last.text_content() == "Hello, Ann"
    assert page.locator(".line.error").count() == 0
