"""A LangGraph agent: a chat model that may call a weather tool, as a graph of two nodes."""

import os

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def chat(state: MessagesState) -> dict:
    # Made here, not at import, so the API key is needed only when the graph runs.
    model = ChatOpenAI(model=os.environ.get("UAI_EXAMPLE_MODEL", "gpt-4o-mini"))
    return {"messages": [model.bind_tools([get_weather]).invoke(state["messages"])]}


builder = StateGraph(MessagesState)
builder.add_node("chat", chat)
builder.add_node("tools", ToolNode([get_weather]))
builder.add_edge(START, "chat")
builder.add_conditional_edges("chat", tools_condition)
builder.add_edge("tools", "chat")
graph = builder.compile()
