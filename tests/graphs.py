"""LangGraph graphs for the tests, on the scripted chat model LangChain itself provides."""

from __future__ import annotations

import asyncio
import itertools

from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.graph import END, START, MessagesState, StateGraph
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
