"""The README's "Use UAI from any OpenAI client" Python snippet, run as written against the live
server (its base URL and key swapped for the test server's): the docs show what works."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import token_of

pytestmark = pytest.mark.once

README = Path(__file__).resolve().parent.parent / "README.md"


def snippet() -> str:
    text = README.read_text()
    section = text[text.index("## Use UAI from any OpenAI client") :]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found, "the section has a Python snippet"
    return found[1]


def test_the_readme_openai_snippet_runs_as_written(alice: httpx.Client) -> None:
    code = snippet().replace("http://127.0.0.1:8000/v1", str(alice.base_url).rstrip("/") + "/v1")
    printed = io.StringIO()
    names: dict[str, Any] = {"TOKEN": token_of(alice), "__name__": "readme"}
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "README.md", "exec"), names)
    finally:
        if "client" in names:
            names["client"].close()  # (an unclosed socket is a warning at the session's end)
    out = printed.getvalue()
    assert "'echo'" in out and "'steps'" in out  # the models
    assert "completed Done after 5 steps." in out  # the background response, polled
    assert "response.completed" in out  # the resumed stream reached its end
    assert "Which colour?" in out and "You answered: blue" in out  # uai_input, answered
