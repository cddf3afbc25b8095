"""smolagents agents for the tests, on a scripted ``Model`` subclass (no network, no weights)."""

from __future__ import annotations

from typing import Any

from smolagents import CodeAgent, Model, ToolCallingAgent, tool
from smolagents.models import ChatMessage, ChatMessageToolCall, ChatMessageToolCallFunction, MessageRole


class Scripted(Model):
    """Answers with the next of its replies (text, or a tool call given as a dict)."""

    def __init__(self, replies: list[Any], repeat_last: bool = False) -> None:
        super().__init__(model_id="scripted")
        self.replies = list(replies)
        self.repeat_last = repeat_last

    def generate(self, messages: list[Any], **kwargs: Any) -> ChatMessage:
        reply = self.replies[0] if (self.repeat_last and len(self.replies) == 1) else self.replies.pop(0)
        if isinstance(reply, dict):
            call = ChatMessageToolCall(
                id="call_1",
                type="function",
                function=ChatMessageToolCallFunction(name=reply["name"], arguments=reply["arguments"]),
            )
            return ChatMessage(role=MessageRole.ASSISTANT, content="", tool_calls=[call])
        return ChatMessage(role=MessageRole.ASSISTANT, content=reply)


@tool
def get_weather(city: str) -> str:
    """The weather in a city.

    Args:
        city: The city's name.
    """
    return f"sunny in {city}"


def code_agent() -> CodeAgent:
    return CodeAgent(
        tools=[],
        model=Scripted(
            [
                "Plan: compute it with Python.",
                "Thought: compute\n<code>\nresult = 2+3*4\nfinal_answer(result)\n</code>",
            ]
        ),
        planning_interval=1,
        verbosity_level=0,
    )


def tool_agent() -> ToolCallingAgent:
    return ToolCallingAgent(
        tools=[get_weather],
        model=Scripted(
            [
                {"name": "get_weather", "arguments": {"city": "Paris"}},
                {"name": "final_answer", "arguments": {"answer": "It is sunny in Paris."}},
            ]
        ),
        verbosity_level=0,
    )


def slow_agent() -> CodeAgent:
    tick = "Thought: wait\n<code>\nimport time\ntime.sleep(0.2)\nprint('tick')\n</code>"
    return CodeAgent(
        tools=[],
        model=Scripted([tick], repeat_last=True),
        additional_authorized_imports=["time"],
        max_steps=500,
        verbosity_level=0,
    )
