"""An agent that is only an OpenAI-compatible chat model: OpenAI, Ollama, vLLM, LiteLLM, …

Options: ``model`` (required), ``base_url``, ``api_key_env`` (the environment variable holding the
key; default ``OPENAI_API_KEY``), ``system_prompt``, ``temperature``, ``tools`` (a list of
``module:function``; each becomes a function tool described from its signature and docstring) and
``max_tool_rounds``. Text streams as deltas; each tool call is an ActionStep, then its result.
The front end's tools (``request.tools``) are offered to the model too; a call of one is run by
the front end (``context.call_tool``: the run waits for its result as for an answer).
Needs the ``openai`` extra: ``pip install 'uai[openai]'``.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
from collections.abc import AsyncGenerator, Callable
from typing import Any

from uai.agents import events
from uai.agents.adapters import chat_messages
from uai.agents.protocol import AgentContext, AgentRequest, new_call_id

JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean", list: "array", dict: "object"}
DEFAULT_TOOL_ROUNDS = 8


class MissingExtra(ImportError):
    """A framework adapter whose package is not installed."""


def tool_spec(fn: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI function-tool description of a Python function."""
    properties: dict[str, Any] = {}
    required = []
    hints = getattr(fn, "__annotations__", {})
    for name, param in inspect.signature(fn).parameters.items():
        hint = hints.get(name)
        if isinstance(hint, str):
            hint = {"str": str, "int": int, "float": float, "bool": bool, "list": list, "dict": dict}.get(
                hint
            )
        properties[name] = {"type": JSON_TYPES.get(hint, "string")}  # type: ignore[arg-type]
        if param.default is inspect.Parameter.empty:
            required.append(name)
    return {
        "type": "function",
        "function": {
            "name": fn.__name__,
            "description": inspect.getdoc(fn) or fn.__name__,
            "parameters": {"type": "object", "properties": properties, "required": required},
        },
    }


def client_tool_spec(tool: dict[str, Any]) -> dict[str, Any]:
    """The OpenAI function-tool description of a front-end tool (``request.tools``)."""
    return {
        "type": "function",
        "function": {
            "name": tool["name"],
            "description": tool.get("description") or tool["name"],
            "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
        },
    }


class OpenAIChatAdapter:
    """Streams a chat completion (with tool calls) from any OpenAI-compatible endpoint."""

    def __init__(self, target: Any, options: dict[str, Any]) -> None:
        try:
            import openai  # noqa: F401 - imported only when an agent uses this adapter
        except ImportError as exc:
            raise MissingExtra(
                "the openai_chat adapter needs the 'openai' extra: pip install 'uai[openai]'"
            ) from exc
        from uai.agents.registry import import_target

        if not options.get("model"):
            raise ValueError("options.model is required")
        self.options = options
        self.tools: dict[str, Callable[..., Any]] = {}
        for path in options.get("tools", []):
            fn = import_target(path)
            self.tools[fn.__name__] = fn

    def _client(self) -> Any:
        from openai import AsyncOpenAI

        key = os.environ.get(self.options.get("api_key_env", "OPENAI_API_KEY")) or "not-needed"
        return AsyncOpenAI(base_url=self.options.get("base_url"), api_key=key, max_retries=0)

    def _messages(self, request: AgentRequest) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = []
        if self.options.get("system_prompt"):
            messages.append({"role": "system", "content": self.options["system_prompt"]})
        return messages + chat_messages(request)

    async def stream(
        self, request: AgentRequest, context: AgentContext
    ) -> AsyncGenerator[events.AgentEvent, None]:
        """Ask the model; run the tools it calls; stream its answer."""
        client = self._client()
        messages = self._messages(request)
        extra: dict[str, Any] = {}
        # (A front-end tool named like one of the agent's own is not offered: the agent's wins.)
        client_tools = {t["name"] for t in request.tools if t["name"] not in self.tools}
        if self.tools or client_tools:
            extra["tools"] = [tool_spec(fn) for fn in self.tools.values()] + [
                client_tool_spec(t) for t in request.tools if t["name"] in client_tools
            ]
        if "temperature" in self.options:
            extra["temperature"] = self.options["temperature"]
        usage: dict[str, int] = {}
        try:
            for _ in range(int(self.options.get("max_tool_rounds", DEFAULT_TOOL_ROUNDS))):
                text: list[str] = []
                calls: dict[int, dict[str, Any]] = {}
                response = await client.chat.completions.create(
                    model=self.options["model"],
                    messages=messages,
                    stream=True,
                    stream_options={"include_usage": True},
                    **extra,
                )
                async for chunk in response:
                    if chunk.usage is not None:
                        for key, value in chunk.usage.model_dump().items():
                            if isinstance(value, int):
                                usage[key] = usage.get(key, 0) + value
                    for choice in chunk.choices:
                        delta = choice.delta
                        if delta.content:
                            text.append(delta.content)
                            yield events.TextDelta(delta.content)
                        for call in delta.tool_calls or []:
                            slot = calls.setdefault(call.index, {"id": "", "name": "", "arguments": ""})
                            slot["id"] = call.id or slot["id"]
                            if call.function is not None:
                                slot["name"] += call.function.name or ""
                                slot["arguments"] += call.function.arguments or ""
                for call in calls.values():
                    call["id"] = call["id"] or new_call_id()  # (some servers give none)
                if not calls:
                    if usage:
                        yield events.Stats({"tokens": usage.get("total_tokens", 0), "usage": usage})
                    yield events.FinalAnswer(content="".join(text))
                    return
                messages.append(
                    {
                        "role": "assistant",
                        "content": "".join(text) or None,
                        "tool_calls": [
                            {
                                "id": c["id"],
                                "type": "function",
                                "function": {"name": c["name"], "arguments": c["arguments"]},
                            }
                            for c in calls.values()
                        ],
                    }
                )
                for call in calls.values():
                    name, arguments = call["name"], call["arguments"]
                    front_end = {"client": True} if name in client_tools else {}
                    yield events.Step(
                        events.ACTION_STEP,
                        f"Calling tool {name}({arguments})",
                        data={"tool": name, "call_id": call["id"], "arguments": arguments, **front_end},
                    )
                    if front_end:  # (its call step is handled by now: it comes before the question)
                        answer = await context.call_tool(name, arguments, call_id=call["id"], announce=False)
                        result = str(answer)
                    else:
                        result = await self._call_tool(name, arguments)
                    yield events.Step(
                        events.ACTION_STEP,
                        f"Observation from {name}: {result}",
                        data={
                            "tool": name,
                            "call_id": call["id"],
                            "arguments": arguments,
                            "result": result,
                            **front_end,
                        },
                    )
                    messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
            raise RuntimeError(
                f"the model kept calling tools after {self.options.get('max_tool_rounds', DEFAULT_TOOL_ROUNDS)} rounds"
            )
        finally:
            await client.close()

    async def _call_tool(self, name: str, arguments: str) -> str:
        fn = self.tools.get(name)
        if fn is None:
            return f"error: there is no tool {name!r}"
        try:
            kwargs = json.loads(arguments or "{}")
            result = (
                await fn(**kwargs)
                if inspect.iscoroutinefunction(fn)
                else await asyncio.to_thread(fn, **kwargs)
            )
        except Exception as exc:  # the model sees the error and may recover
            return f"error: {type(exc).__name__}: {exc}"
        return result if isinstance(result, str) else json.dumps(result, default=str)
