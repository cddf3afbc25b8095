"""LangGraph graphs for the tests, on the scripted chat model LangChain itself provides."""

from __future__ import annotations

import asyncio
import itertools

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.runtime import get_runtime
from langgraph.types import interrupt

model = GenericFakeChatModel(messages=itertools.cycle([AIMessage(content="hello there friend")]))


async def chat(state: MessagesState) -> dict:
    return {"messages": [await model.ainvoke(state["messages"])]}


def plan(state: MessagesState) -> dict:
    turns = sum(1 for m in state["messages"] if m.type == "human")
    return {"messages": [AIMessage(content=f"plan for turn {turns}")]}


def ask_name(state: MessagesState) -> dict:
    name = interrupt("Your name?")
    return {"messages": [AIMessage(content=f"Hi {name}")]}


async def crawl(state: MessagesState) -> dict:
    for _ in range(1000):
        await asyncio.sleep(0.05)
    return {"messages": [AIMessage(content="never")]}


def _build(*nodes: tuple) -> object:
    graph = StateGraph(MessagesState)
    previous = START
    for name, fn in nodes:
        graph.add_node(name, fn)
        graph.add_edge(previous, name)
        previous = name
    graph.add_edge(previous, END)
    return graph.compile()


chat_graph = _build(("planner", plan), ("chat", chat))
asking_graph = _build(("ask", ask_name))
slow_graph = _build(("crawl", crawl))


def ask_city(state: MessagesState) -> dict:
    city = interrupt("Your city?")
    return {"messages": [AIMessage(content=f"City {city}")]}


def _parallel_asks() -> object:
    graph = StateGraph(MessagesState)
    graph.add_node("name", ask_name)
    graph.add_node("city", ask_city)
    graph.add_edge(START, "name")
    graph.add_edge(START, "city")
    graph.add_edge("name", END)
    graph.add_edge("city", END)
    return graph.compile()


def _breakpoint() -> object:
    graph = StateGraph(MessagesState)
    graph.add_node("planner", plan)
    graph.add_node("act", lambda state: {"messages": [AIMessage(content="acted")]})
    graph.add_edge(START, "planner")
    graph.add_edge("planner", "act")
    graph.add_edge("act", END)
    return graph.compile(interrupt_before=["act"])


parallel_asking_graph = _parallel_asks()
breakpoint_graph = _breakpoint()


def configured(state: MessagesState, config: RunnableConfig) -> dict:
    """Says what the run's config and context gave it."""
    who = config["configurable"].get("who", "nobody")
    return {"messages": [AIMessage(content=f"who={who} context={get_runtime().context}")]}


configured_graph = _build(("configured", configured))


def review(state: MessagesState) -> dict:
    """Asks for a decision as Agent Chat UI's human-in-the-loop requests do (an object), and
    answers with the decision it gets back (an object too)."""
    decision = interrupt({"action_requests": [{"name": "send", "args": {"to": "ada"}}]})
    return {"messages": [AIMessage(content=f"decided {decision['decisions'][0]['type']}")]}


review_graph = _build(("review", review))
