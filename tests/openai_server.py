"""A scripted OpenAI-compatible chat-completions server on loopback (streaming, tool calls).

Script: a user message mentioning "weather" with ``get_weather`` offered → a call of it; after
the tool's result → "The weather: <result>"; a user message mentioning "slowly" → "tick " every
0.1 s for a minute; anything else → the user's text echoed back in three chunks. When the agent
offers a ``final_answer`` tool (smolagents), the answer is a call of it instead of text. Every
request is recorded for the test to inspect.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
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


def text_of(message: dict[str, Any]) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):  # content parts
        return "".join(part.get("text", "") for part in content)
    return content


def tool_call(name: str, arguments: str) -> list[dict[str, Any]]:
    call = {
        "index": 0,
        "id": "call_1" if name == "get_weather" else f"call_{name}",
        "type": "function",
        "function": {"name": name, "arguments": ""},
    }
    half = len(arguments) // 2
    return [
        chunk({"role": "assistant", "tool_calls": [call]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[:half]}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": arguments[half:]}}]}),
        chunk({}, "tool_calls"),
    ]


def answer(text: str, tools: set[str]) -> list[dict[str, Any]]:
    if "final_answer" in tools:
        return tool_call("final_answer", json.dumps({"answer": text}))
    third = max(1, len(text) // 3)
    parts = [text[:third], text[third : 2 * third], text[2 * third :]]
    return [chunk({"role": "assistant", "content": p}) for p in parts if p] + [chunk({}, "stop")]


def script(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    messages = body["messages"]
    tools = {t["function"]["name"] for t in body.get("tools") or []}
    last = messages[-1]
    observed = [m for m in messages if m["role"] == "tool" or "sunny in" in text_of(m)]
    if observed and (last["role"] == "tool" or "sunny in" in text_of(last)):
        result = text_of(last) if last["role"] == "tool" else "sunny in Paris"
        yield from answer(f"The weather: {result}", tools)
        return
    text = text_of(last)
    if "weather" in text and "get_weather" in tools:
        yield from tool_call("get_weather", '{"city": "Paris"}')
        return
    if "slowly" in text:
        for _ in range(600):
            time.sleep(0.1)
            yield chunk({"role": "assistant", "content": "tick "})
        yield chunk({}, "stop")
        return
    yield from answer(text, tools)


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
                if not body.get("stream"):
                    self.respond_whole(script(body))
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()
                usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
                final = {**chunk({}), "choices": [], "usage": usage}
                try:
                    for item in script(body):
                        self.wfile.write(f"data: {json.dumps(item)}\n\n".encode())
                        self.wfile.flush()
                    self.wfile.write(f"data: {json.dumps(final)}\n\ndata: [DONE]\n\n".encode())
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client went away (a cancelled run)

            def respond_whole(self, chunks: Iterator[dict[str, Any]]) -> None:
                """The chunks folded into one ``chat.completion`` (for clients that do not stream)."""
                message: dict[str, Any] = {"role": "assistant", "content": None}
                finish = None
                for item in chunks:
                    delta, finish = item["choices"][0]["delta"], item["choices"][0]["finish_reason"] or finish
                    if delta.get("content"):
                        message["content"] = (message["content"] or "") + delta["content"]
                    for call in delta.get("tool_calls", []):
                        if "id" in call:
                            message.setdefault("tool_calls", []).append(call)
                        else:
                            message["tool_calls"][-1]["function"]["arguments"] += call["function"][
                                "arguments"
                            ]
                for call in message.get("tool_calls", []):
                    call.pop("index", None)
                data = json.dumps(
                    {
                        "id": "chatcmpl-test",
                        "object": "chat.completion",
                        "created": 0,
                        "model": "scripted",
                        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
                        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8},
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

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
