"""A scripted OpenAI-compatible chat-completions server on loopback (streaming, tool calls).

Script: a user message mentioning "weather" with tools offered → a call of ``get_weather``;
after the tool's result → "The weather: <result>"; anything else → the user's text echoed back
in three chunks. Every request is recorded for the test to inspect.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "scripted",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


def script(body: dict[str, Any]) -> list[dict[str, Any]]:
    messages = body["messages"]
    last = messages[-1]
    if last["role"] == "tool":
        text = f"The weather: {last['content']}"
        return [chunk({"role": "assistant", "content": text}), chunk({}, "stop")]
    if "weather" in last["content"] and body.get("tools"):
        call = {
            "index": 0,
            "id": "call_1",
            "type": "function",
            "function": {"name": "get_weather", "arguments": ""},
        }
        return [
            chunk({"role": "assistant", "tool_calls": [call]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": '}}]}),
            chunk({"tool_calls": [{"index": 0, "function": {"arguments": '"Paris"}'}}]}),
            chunk({}, "tool_calls"),
        ]
    text = last["content"]
    third = max(1, len(text) // 3)
    parts = [text[:third], text[third : 2 * third], text[2 * third :]]
    return [chunk({"role": "assistant", "content": p}) for p in parts if p] + [chunk({}, "stop")]


class ScriptedOpenAI:
    """Start with ``with ScriptedOpenAI() as server: server.base_url``."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        recorded = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body["authorization"] = self.headers.get("Authorization")
                recorded.append(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                for item in script(body):
                    self.wfile.write(f"data: {json.dumps(item)}\n\n".encode())
                usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
                final = {**chunk({}), "choices": [], "usage": usage}
                self.wfile.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> ScriptedOpenAI:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()
