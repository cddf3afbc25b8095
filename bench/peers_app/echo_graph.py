"""The LangGraph peer: a one-node graph that echoes the last message, served by ``langgraph dev``."""

from __future__ import annotations

from typing import TypedDict

from langgraph.graph import END, START, StateGraph


class State(TypedDict):
    """The graph's input and output: the text in, the same text out."""

    text: str


def echo(state: State) -> State:
    """Reply with the text."""
    return {"text": state["text"]}


graph = StateGraph(State).add_node("echo", echo).add_edge(START, "echo").add_edge("echo", END).compile()
