"""LangGraph: a compiled graph (or a factory returning one) as an agent.

- Chat-model token chunks (``stream_mode="messages"``) become text deltas.
- Each node's update becomes an ActionStep (a node named ``plan…`` a PlanningStep).
- ``interrupt(value)`` becomes ``input_required`` with ``value`` as the question (its JSON when it
  is not text, and the value itself on the event); the input endpoint's answer resumes the graph
  with ``Command(resume=answer)`` (a client's JSON answer as that value: ``Answer.value``).
  Interrupts of parallel nodes are asked one after the other and resumed together, by id. A static breakpoint
  (``interrupt_before``/``interrupt_after``) asks "Paused before NODE. Answer to go on." and
  any answer goes on.
- The thread's state is kept between turns of a chat in the chat's own state (PostgreSQL), under
  ``"langgraph"``; within one run an in-memory checkpointer carries it across interrupts.
- The final answer is the last AI message of the graph's state.
- A turn's ``config`` (``configurable`` and the rest) and ``context``, as a LangGraph client asks
  them (``/langgraph``), are the graph's; ``thread_id`` stays the adapter's own.

Options: ``input_key`` (default ``messages``). Needs the ``langgraph`` extra.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Any

from uai.agents import events
from uai.agents.protocol import AgentContext, AgentRequest

STATE_KEY = "langgraph"
MESSAGES_MARK = "__messages__"


def _import() -> Any:
    try:
        import langchain_core.messages as messages
        import langgraph.types  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "the langgraph adapter needs the 'langgraph' extra: pip install 'uai[langgraph]'"
        ) from exc
    return messages


def dump_state(values: dict[str, Any]) -> dict[str, Any]:
    """Graph state → JSON (message lists by LangChain's own dict form; other JSON values as they are)."""
    messages = _import()
    out: dict[str, Any] = {}
    for key, value in values.items():
        if isinstance(value, list) and value and all(isinstance(v, messages.BaseMessage) for v in value):
            out[key] = {MESSAGES_MARK: messages.messages_to_dict(value)}
            continue
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue  # not JSON: not kept between turns
        out[key] = value
    return out


def load_state(saved: dict[str, Any] | None) -> dict[str, Any]:
    """JSON → graph state."""
    messages = _import()
    values: dict[str, Any] = {}
    for key, value in (saved or {}).items():
        if isinstance(value, dict) and MESSAGES_MARK in value:
            values[key] = messages.messages_from_dict(value[MESSAGES_MARK])
        else:
            values[key] = value
    return values


def _text(value: Any) -> str:
    content = getattr(value, "content", value)
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content blocks
        return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return json.dumps(content, default=str)


def _describe_message(message: Any) -> str:
    """A message as a step's text: its tool calls, a tool's result, or its text."""
    calls = getattr(message, "tool_calls", None)
    if calls:
        return "\n".join(f"Calling tool {c['name']}({json.dumps(c['args'], default=str)})" for c in calls)
    if getattr(message, "type", "") == "tool":
        return f"Observation from {message.name}: {_text(message)}"
    return _text(message)


def _describe(update: Any) -> str:
    if isinstance(update, dict):
        parts = []
        for key, value in update.items():
            if isinstance(value, list) and value and hasattr(value[-1], "content"):
                parts.append(_describe_message(value[-1]))
            else:
                parts.append(f"{key}: {json.dumps(value, default=str)}")
        return "\n".join(parts)
    return str(update)


def _question(interrupt: Any) -> str:
    value = interrupt.value
    return value if isinstance(value, str) else json.dumps(value, default=str)


async def _ask(context: AgentContext, interrupt: Any) -> Any:
    """Ask an interrupt's question (a value that is not text travels as itself too, for clients
    that show it); the answer as the client sent it: its JSON value, else its text."""
    value = interrupt.value
    answer = await context.ask(_question(interrupt), value=None if isinstance(value, str) else value)
    return answer.value if answer.value is not None else str(answer)


class LangGraphAdapter:
    """Streams a LangGraph graph's run as UAI events."""

    def __init__(self, target: Any, options: dict[str, Any]) -> None:
        _import()
        graph = target
        if not hasattr(graph, "astream") and callable(graph):
            graph = graph()  # a factory
        if not hasattr(graph, "astream") or not hasattr(graph, "copy"):
            raise TypeError(f"{target!r} is not a compiled LangGraph graph (or a factory of one)")
        self.graph = graph
        self.input_key = options.get("input_key", "messages")

    def describe(self) -> dict[str, Any]:
        """The graph as LangGraph's API shows it: its nodes and edges, and its JSON Schemas."""
        return {
            "graph": self.graph.get_graph().to_json(),
            "schemas": {
                "input_schema": self.graph.get_input_jsonschema(),
                "output_schema": self.graph.get_output_jsonschema(),
                "state_schema": self.graph.get_output_jsonschema(),
                "context_schema": self.graph.get_context_jsonschema(),
            },
        }

    async def stream(
        self, request: AgentRequest, context: AgentContext
    ) -> AsyncGenerator[events.AgentEvent, None]:
        """Run the graph on the user's text, resuming it through interrupts."""
        messages = _import()
        from langgraph.checkpoint.memory import InMemorySaver
        from langgraph.types import Command

        graph = self.graph.copy(update={"checkpointer": InMemorySaver()})
        asked = dict(request.config)
        configurable = {
            **(asked.pop("configurable", None) or {}),
            "thread_id": context.run_id or "sessionless",
        }
        config = {**asked, "configurable": {"mode": request.mode, **configurable}}
        run_context = request.context or None
        prior = load_state(request.state.get(STATE_KEY))
        history = list(prior.get(self.input_key, []))
        command: Any = {**prior, self.input_key: [*history, messages.HumanMessage(content=request.text)]}
        while True:
            paused = False
            interrupts: dict[str, Any] = {}
            async for mode, data in graph.astream(
                command, config, stream_mode=["updates", "messages"], context=run_context
            ):
                if mode == "messages":
                    chunk = data[0]
                    if isinstance(chunk, messages.AIMessageChunk) and _text(chunk):
                        yield events.TextDelta(_text(chunk))
                    continue
                for node, update in data.items():
                    if node == "__interrupt__":
                        paused = True  # () for a static breakpoint (interrupt_before/after)
                        interrupts.update((interrupt.id, interrupt) for interrupt in update)
                    elif update is not None:
                        step = events.PLANNING_STEP if node.lower().startswith("plan") else events.ACTION_STEP
                        yield events.Step(step, _describe(update), data={"node": node})
            if not paused:
                break
            if not interrupts:
                # A breakpoint: the graph goes on from where it stopped once the user answers.
                upcoming = ", ".join((await graph.aget_state(config)).next)
                await context.ask(f"Paused before {upcoming}. Answer to go on." if upcoming else "Paused.")
                command = None
            elif len(interrupts) == 1:
                command = Command(resume=await _ask(context, next(iter(interrupts.values()))))
            else:  # interrupt() in parallel nodes: each is asked, and answered by its id
                command = Command(resume={key: await _ask(context, i) for key, i in interrupts.items()})
        values = (await graph.aget_state(config)).values
        yield events.StateUpdate({**request.state, STATE_KEY: dump_state(values)})
        final = next(
            (m for m in reversed(values.get(self.input_key, [])) if isinstance(m, messages.AIMessage)), None
        )
        yield events.FinalAnswer(content=_text(final) if final is not None else "")
