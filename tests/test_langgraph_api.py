"""LangGraph's Agent Server API (``/langgraph``) driven by the official ``langgraph-sdk`` client,
unchanged, against the live server: UAI agents of every framework as LangGraph assistants."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from langgraph_sdk import get_client, get_sync_client
from langgraph_sdk.errors import ConflictError, NotFoundError

from tests.conftest import register, register_agent, token_of, wait_for

_OPEN: list[Any] = []


def sdk(client: httpx.Client) -> Any:
    """The SDK's sync client for a user (its token as ``x-api-key``, as the SDK sends a key);
    closed at the test's end."""
    made = get_sync_client(url=api_root(client), api_key=token_of(client))
    _OPEN.append(made)
    return made


def api_root(client: httpx.Client) -> str:
    return str(client.base_url).rstrip("/") + "/langgraph"


@pytest.fixture(autouse=True)
def _close_sdk_clients() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def user(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def parts(stream: Any) -> list[tuple[str, Any]]:
    return [(part.event, part.data) for part in stream]


def texts(values: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m["type"], m["content"]) for m in values["messages"]]


@pytest.fixture
def graph_agent(live: str) -> str:
    register_agent("graph", "langgraph", "tests.graphs:chat_graph", streams=True)
    return "graph"


@pytest.fixture
def asking_graph(live: str) -> str:
    register_agent("asking", "langgraph", "tests.graphs:asking_graph", streams=True)
    return "asking"


def test_langgraph__assistants_are_the_agents(alice: httpx.Client) -> None:
    client = sdk(alice)
    found = client.assistants.search(graph_id="echo")
    assert [a["assistant_id"] for a in found] == ["echo"]
    assert found[0]["graph_id"] == "echo"
    assert client.assistants.get("echo")["name"] == "echo"
    assert "echo" in [a["assistant_id"] for a in client.assistants.search(limit=100)]
    graph = client.assistants.get_graph("echo")
    assert {n["id"] for n in graph["nodes"]} >= {"__start__", "__end__"}
    assert client.assistants.get_schemas("echo")["graph_id"] == "echo"
    with pytest.raises(NotFoundError):
        client.assistants.get("no-such-agent")


def test_langgraph__a_thread_is_a_chat_listed_by_its_metadata(alice: httpx.Client) -> None:
    client = sdk(alice)
    made = client.threads.create(metadata={"project": "x"})
    assert made["status"] == "idle" and made["metadata"] == {"project": "x"}
    assert client.threads.get(made["thread_id"])["thread_id"] == made["thread_id"]
    # the chat the thread is
    assert alice.get(f"/chat/{made['thread_id']}").status_code == 200
    client.runs.wait(made["thread_id"], "echo", input=user("Hello thread"))
    found = client.threads.search(metadata={"graph_id": "echo"})
    assert [t["thread_id"] for t in found] == [made["thread_id"]]
    assert texts(found[0]["values"]) == [("human", "Hello thread"), ("ai", "Hello thread")]
    assert client.threads.search(metadata={"project": "y"}) == []
    with pytest.raises(ConflictError):
        client.threads.create(thread_id=made["thread_id"])
    same = client.threads.create(thread_id=made["thread_id"], if_exists="do_nothing")
    assert same["thread_id"] == made["thread_id"]
    client.threads.update(made["thread_id"], metadata={"more": 1})
    assert client.threads.get(made["thread_id"])["metadata"]["more"] == 1
    client.threads.delete(made["thread_id"])
    with pytest.raises(NotFoundError):
        client.threads.get(made["thread_id"])


def test_langgraph__streams_a_plain_agent_in_every_mode(alice: httpx.Client) -> None:
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    got = parts(
        client.runs.stream(
            thread,
            "echo",
            input=user("Hello stream"),
            stream_mode=["values", "updates", "messages-tuple", "custom"],
        )
    )
    names = [name for name, _ in got]
    assert names[0] == "metadata" and uuid.UUID(got[0][1]["run_id"])
    assert names[-1] == "end"
    values = [data for name, data in got if name == "values"]
    assert texts(values[0]) == [("human", "Hello stream")]
    assert texts(values[-1]) == [("human", "Hello stream"), ("ai", "Hello stream")]
    chunks = [data for name, data in got if name == "messages"]
    assert "".join(chunk["content"] for chunk, _ in chunks) == "Hello stream"
    assert all(chunk["type"] == "AIMessageChunk" for chunk, _ in chunks)
    updates = [data for name, data in got if name == "updates"]
    assert any("agent" in u and u["agent"]["messages"][0]["content"] == "Hello stream" for u in updates)
    # the run, as the thread lists it
    run = client.runs.get(thread, got[0][1]["run_id"])
    assert run["status"] == "success" and run["assistant_id"] == "echo"
    assert [r["run_id"] for r in client.runs.list(thread)] == [run["run_id"]]
    state = client.threads.get_state(thread)
    assert texts(state["values"]) == [("human", "Hello stream"), ("ai", "Hello stream")]
    assert state["next"] == []
    history = client.threads.get_history(thread)
    assert texts(history[0]["values"]) == texts(state["values"])
    # the current state by its checkpoint; no other is kept
    at = state["checkpoint"]
    assert client.threads.get_state(thread, checkpoint_id=at["checkpoint_id"]) == state
    assert client.threads.get_state(thread, checkpoint=at) == state
    with pytest.raises(NotFoundError):
        client.threads.get_state(thread, checkpoint_id="1")
    # a message the client named keeps its id (a front end matches its optimistic message by it)
    named = {"messages": [{"role": "user", "content": "named", "id": "msg-from-the-client"}]}
    values = client.runs.wait(thread, "echo", input=named)
    assert [m["id"] for m in values["messages"] if m["type"] == "human"][-1] == "msg-from-the-client"


def test_langgraph__streams_a_langgraph_agent(alice: httpx.Client, graph_agent: str) -> None:
    client = sdk(alice)
    # its assistant tells its own graph and schemas
    graph = client.assistants.get_graph(graph_agent)
    assert {n["id"] for n in graph["nodes"]} == {"__start__", "planner", "chat", "__end__"}
    assert {"source": "planner", "target": "chat"} in graph["edges"]
    assert "messages" in client.assistants.get_schemas(graph_agent)["input_schema"]["properties"]
    thread = client.threads.create()["thread_id"]
    got = parts(
        client.runs.stream(
            thread, graph_agent, input=user("hi"), stream_mode=["updates", "messages-tuple", "values"]
        )
    )
    updates = [data for name, data in got if name == "updates"]
    assert any("planner" in u for u in updates)
    chunks = [data for name, data in got if name == "messages"]
    assert "".join(chunk["content"] for chunk, _ in chunks) == "hello there friend"
    final = [data for name, data in got if name == "values"][-1]
    assert texts(final)[-1] == ("ai", "hello there friend")


def test_langgraph__an_interrupt_is_resumed_with_a_command(alice: httpx.Client, asking_graph: str) -> None:
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    got = parts(client.runs.stream(thread, asking_graph, input=user("hi"), stream_mode=["values", "updates"]))
    asked = [data for name, data in got if name == "updates" and "__interrupt__" in data]
    assert asked and asked[0]["__interrupt__"][0]["value"] == "Your name?"
    run_id = got[0][1]["run_id"]
    wait_for(lambda: client.threads.get(thread)["status"] == "interrupted")
    assert client.runs.get(thread, run_id)["status"] == "success"
    assert client.threads.get(thread)["interrupts"]
    state = client.threads.get_state(thread)
    assert state["tasks"][0]["interrupts"][0]["value"] == "Your name?"
    result = client.runs.wait(thread, asking_graph, command={"resume": "Ada"})
    # the answer is the interrupt's resume, not a message (as in LangGraph's state)
    assert texts(result) == [("human", "hi"), ("ai", "Hi Ada")]
    assert client.threads.get(thread)["status"] == "idle"
    assert len(client.runs.list(thread)) == 2
    with pytest.raises(ConflictError):  # the first run ended (at the question)
        client.runs.cancel(thread, run_id)


def test_langgraph__create_then_join(alice: httpx.Client) -> None:
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    run = client.runs.create(thread, "echo", input=user("joined"))
    assert run["status"] in ("pending", "running", "success")
    values = client.runs.join(thread, run["run_id"])
    assert texts(values)[-1] == ("ai", "joined")
    again = parts(client.runs.join_stream(thread, run["run_id"], last_event_id="-1", stream_mode="values"))
    assert texts([d for n, d in again if n == "values"][-1])[-1] == ("ai", "joined")


def test_langgraph__stateless_runs(alice: httpx.Client) -> None:
    client = sdk(alice)
    values = client.runs.wait(None, "echo", input=user("no thread"))
    assert texts(values)[-1] == ("ai", "no thread")
    got = parts(client.runs.stream(None, "echo", input=user("no thread either")))
    assert texts([d for n, d in got if n == "values"][-1])[-1] == ("ai", "no thread either")


def test_langgraph__another_users_thread_is_not_found(alice: httpx.Client, bob: httpx.Client) -> None:
    thread = sdk(alice).threads.create()["thread_id"]
    other = sdk(bob)
    with pytest.raises(NotFoundError):
        other.threads.get(thread)
    with pytest.raises(httpx.HTTPStatusError) as refused:
        other.runs.wait(thread, "echo", input=user("mine now"))
    assert refused.value.response.status_code == 404
    with pytest.raises(NotFoundError):
        other.runs.create(thread, "echo", input=user("mine now"))
    assert other.threads.search() == []


def test_langgraph__async_client(alice: httpx.Client) -> None:
    async def go() -> list[Any]:
        async with get_client(url=api_root(alice), api_key=token_of(alice)) as client:
            thread = await client.threads.create()
            return [p async for p in client.runs.stream(thread["thread_id"], "echo", input=user("async"))]

    got = asyncio.run(go())
    assert got[0].event == "metadata"
    assert texts([p.data for p in got if p.event == "values"][-1])[-1] == ("ai", "async")


def slow(steps: int, delay: float = 0.05) -> dict[str, Any]:
    """The built-in ``slow`` agent's input: a log line and a progress report per step."""
    return user(json.dumps({"steps": steps, "delay": delay}))


def test_langgraph__custom_and_messages_modes(alice: httpx.Client) -> None:
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    got = parts(client.runs.stream(thread, "slow", input=slow(2, 0.01), stream_mode=["custom", "messages"]))
    custom = [data for name, data in got if name == "custom"]
    assert [c["message"] for c in custom if c["type"] == "log"] == ["step 1 of 2", "step 2 of 2"]
    assert [c["progress"] for c in custom if c["type"] == "progress"] == [50.0, 100.0]
    complete = [data for name, data in got if name == "messages/complete"]
    assert complete[-1][0]["content"] == "Done after 2 steps."
    assert any(name == "messages/metadata" for name, _ in got)


def test_langgraph__join_stream_after_a_dropped_connection_loses_nothing(alice: httpx.Client) -> None:
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    modes = ["custom", "values"]
    first: list[Any] = []
    stream = client.runs.stream(thread, "slow", input=slow(20), stream_mode=modes)
    for part in stream:
        first.append(part)
        if len([p for p in first if p.event == "custom"]) == 5:
            break
    stream.close()  # the connection drops mid-run
    run_id = first[0].data["run_id"]
    rest = list(client.runs.join_stream(thread, run_id, stream_mode=modes, last_event_id=first[-1].id))
    whole = list(client.runs.join_stream(thread, run_id, stream_mode=modes, last_event_id="-1"))

    def story(got: list[Any]) -> list[tuple[str | None, str, Any]]:
        return [(p.id, p.event, p.data) for p in got if p.event in ("custom", "values")]

    assert story(first) + story(rest) == story(whole)
    assert len([p for p in whole if p.event == "custom" and p.data["type"] == "log"]) == 20
    assert texts(whole[-2].data)[-1] == ("ai", "Done after 20 steps.")


def test_langgraph__cancel_interrupt_keeps_the_turn_rollback_deletes_it(alice: httpx.Client) -> None:
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    kept = client.runs.create(thread, "slow", input=slow(1000))
    wait_for(lambda: client.runs.get(thread, kept["run_id"])["status"] == "running")
    client.runs.cancel(thread, kept["run_id"], wait=True)
    assert client.runs.get(thread, kept["run_id"])["status"] == "interrupted"
    assert [m["type"] for m in client.threads.get_state(thread)["values"]["messages"]] == ["human"]
    gone = client.runs.create(thread, "slow", input=slow(1000), multitask_strategy="enqueue")
    wait_for(lambda: client.runs.get(thread, gone["run_id"])["status"] == "running")
    client.runs.cancel(thread, gone["run_id"], action="rollback")
    with pytest.raises(NotFoundError):
        client.runs.get(thread, gone["run_id"])
    assert [m["type"] for m in client.threads.get_state(thread)["values"]["messages"]] == ["human"]
    assert [r["run_id"] for r in client.runs.list(thread)] == [kept["run_id"]]


@pytest.mark.parametrize("strategy", ["reject", "enqueue", "interrupt", "rollback"])
def test_langgraph__multitask_strategy_with_two_messages_at_once(alice: httpx.Client, strategy: str) -> None:
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    first = client.runs.create(thread, "slow", input=slow(40))
    if strategy == "reject":
        with pytest.raises(ConflictError) as refused:
            client.runs.create(thread, "slow", input=slow(1), multitask_strategy=strategy)
        assert refused.value.response.json()["run_id"] == first["run_id"]  # the run going
        assert client.runs.join(thread, first["run_id"])["messages"][-1]["content"] == "Done after 40 steps."
        return
    second = client.runs.create(thread, "slow", input=slow(1), multitask_strategy=strategy)
    assert texts(client.runs.join(thread, second["run_id"]))[-1] == ("ai", "Done after 1 steps.")
    ran = {r["run_id"]: r["status"] for r in client.runs.list(thread)}
    if strategy == "enqueue":
        assert ran == {first["run_id"]: "success", second["run_id"]: "success"}
        said = [
            m["content"] for m in client.threads.get_state(thread)["values"]["messages"] if m["type"] == "ai"
        ]
        assert said == ["Done after 40 steps.", "Done after 1 steps."]
    elif strategy == "interrupt":
        assert ran == {first["run_id"]: "interrupted", second["run_id"]: "success"}
    else:
        assert ran == {second["run_id"]: "success"}


def test_langgraph__config_and_context_reach_a_langgraph_agent(alice: httpx.Client, live: str) -> None:
    register_agent("configured", "langgraph", "tests.graphs:configured_graph")
    client = sdk(alice)
    values = client.runs.wait(
        None, "configured", input=user("hi"), config={"configurable": {"who": "ada"}}, context={"lang": "fr"}
    )
    assert texts(values)[-1] == ("ai", "who=ada context={'lang': 'fr'}")


def test_langgraph__a_thread_stream_follows_its_runs(alice: httpx.Client) -> None:
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    seen: list[Any] = []
    following = threading.Event()

    def follow() -> None:
        with get_sync_client(url=api_root(alice), api_key=token_of(alice)) as follower:
            stream = follower.threads.join_stream(thread, stream_mode=["values", "custom"])
            following.set()
            for part in stream:
                seen.append(part)
                if part.event == "values" and texts(part.data)[-1] == ("ai", "second"):
                    return

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    assert following.wait(10)
    wait_for(lambda: True, timeout=0.3)  # (the follower's request reaches the server)
    first = client.runs.wait(thread, "echo", input=user("first"))
    client.runs.wait(thread, "echo", input=user("second"))
    reader.join(20)
    assert not reader.is_alive()
    runs = [p.data["run_id"] for p in seen if p.event == "metadata"]
    assert runs == [r["run_id"] for r in client.runs.list(thread)][::-1]
    finals = [texts(p.data)[-1] for p in seen if p.event == "values"]
    assert ("ai", "first") in finals and finals[-1] == ("ai", "second")
    assert texts(first)[-1] == ("ai", "first")


def test_langgraph__bad_requests_are_4xx_with_a_detail(alice: httpx.Client) -> None:
    token = token_of(alice)
    api = httpx.Client(base_url=api_root(alice), headers={"x-api-key": token}, timeout=30)
    try:
        thread = api.post("/threads", json={}).json()["thread_id"]
        run = f"/threads/{thread}/runs/wait"
        refused = {
            "unknown mode": api.post(
                f"/threads/{thread}/runs/stream",
                json={"assistant_id": "echo", "input": user("x"), "stream_mode": "nope"},
            ),
            "unknown strategy": api.post(
                run, json={"assistant_id": "echo", "input": user("x"), "multitask_strategy": "both"}
            ),
            "a command without resume": api.post(
                run, json={"assistant_id": "echo", "command": {"goto": "somewhere"}}
            ),
            "from a checkpoint": api.post(
                run, json={"assistant_id": "echo", "checkpoint": {"checkpoint_id": "1"}}
            ),
            "nothing asked": api.post(run, json={"assistant_id": "echo"}),
            "no assistant": api.post(run, json={"input": user("x")}),
            "a list body": api.post(run, json=[1, 2]),
            "messages not messages": api.post(run, json={"assistant_id": "echo", "input": {"messages": [3]}}),
            "content not text": api.post(
                run, json={"assistant_id": "echo", "input": {"messages": [{"role": "user", "content": 5}]}}
            ),
            "bad limit": api.post("/threads/search", json={"limit": 0}),
            "bad thread id": api.post(
                "/threads/a b/runs/wait",
                json={"assistant_id": "echo", "input": user("x"), "if_not_exists": "create"},
            ),
            "bad cursor": api.get(f"/threads/{thread}/stream", headers={"Last-Event-ID": "x"}),
            "bad action": api.post(
                f"/threads/{thread}/runs/{uuid.uuid4()}/cancel", params={"action": "stop"}
            ),
            "not json": api.post(run, content=b"hello", headers={"content-type": "text/plain"}),
            "a strategy that is a list": api.post(
                run, json={"assistant_id": "echo", "input": user("x"), "multitask_strategy": ["reject"]}
            ),
            "a huge offset": api.post("/threads/search", json={"offset": 10**20}),
            "a limit that is no number": api.post("/threads/search", json={"limit": True}),
            "a NUL": api.post(run, json={"assistant_id": "echo", "input": user("nul \u0000")}),
            "a content part that is no text": api.post(
                run,
                json={
                    "assistant_id": "echo",
                    "input": {"messages": [{"role": "user", "content": [{"text": 5}]}]},
                },
            ),
            "an unknown on_completion": api.post(
                "/runs/wait", json={"assistant_id": "echo", "input": user("x"), "on_completion": "never"}
            ),
            "an unknown if_exists": api.post("/threads", json={"if_exists": "merge"}),
            "a reserved thread id": api.post("/threads", json={"thread_id": "search"}),
        }
        for name, response in refused.items():
            assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
            assert response.json()["detail"], name
        assert refused["not json"].status_code == 415
        # nothing to resume, another assistant on a thread that ran one: refused too
        assert api.post(run, json={"assistant_id": "echo", "input": user("first")}).status_code == 200
        assert api.post(run, json={"assistant_id": "echo", "command": {"resume": "y"}}).status_code == 409
        assert api.post(run, json={"assistant_id": "slow", "input": user("x")}).status_code == 400
        assert api.get(f"/threads/{thread}/runs/{uuid.uuid4()}").status_code == 404
        assert api.get(f"/threads/{thread}/runs/not-a-run").status_code == 404
        assert httpx.get(api_root(alice) + "/threads/search").status_code in (401, 405)
        assert httpx.post(api_root(alice) + "/threads/search", json={}).status_code == 401
        assert httpx.get(api_root(alice) + "/info").json()["flags"]["assistants"] is True
    finally:
        api.close()


def test_langgraph__a_failed_run_says_error_and_ends_so(alice: httpx.Client) -> None:
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    got = parts(client.runs.stream(thread, "fail", input=user("x"), stream_mode=["values", "updates"]))
    errors = [data for name, data in got if name == "error"]
    assert errors and errors[0]["message"]
    assert got[-1] == ("end", {"run_id": got[0][1]["run_id"], "status": "error"})
    assert client.runs.get(thread, got[0][1]["run_id"])["status"] == "error"
    assert client.threads.get(thread)["status"] == "error"
    with pytest.raises(Exception, match="failed on purpose"):  # the SDK raises the run's error
        client.runs.wait(thread, "fail", input=user("again"))


def test_langgraph__a_join_without_modes_streams_the_runs_own(alice: httpx.Client) -> None:
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    got = parts(client.runs.stream(thread, "slow", input=slow(2, 0.01), stream_mode=["custom"]))
    assert got[-1] == ("end", {"run_id": got[0][1]["run_id"], "status": "success"})
    again = parts(client.runs.join_stream(thread, got[0][1]["run_id"], last_event_id="-1"))
    assert again == got
    # Bearer works as x-api-key does; a run made in the background joins in every mode
    made = alice.post(
        f"/langgraph/threads/{thread}/runs", json={"assistant_id": "slow", "input": slow(1, 0.01)}
    ).json()
    joined = parts(client.runs.join_stream(thread, made["run_id"], last_event_id="-1"))
    assert {name for name, _ in joined} == {"metadata", "values", "updates", "messages", "custom", "end"}


def test_langgraph__an_object_interrupt_is_answered_with_an_object(alice: httpx.Client, live: str) -> None:
    """As Agent Chat UI's human-in-the-loop view does: the interrupt's value is an object, and the
    answer a ``command.resume`` object sent beside an empty ``input``."""
    register_agent("review", "langgraph", "tests.graphs:review_graph")
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    got = parts(client.runs.stream(thread, "review", input=user("send it"), stream_mode=["values"]))
    asked = got[-2][1]["__interrupt__"][0]
    assert asked["value"] == {"action_requests": [{"name": "send", "args": {"to": "ada"}}]}
    waiting = client.threads.get_state(thread)["tasks"][0]["interrupts"][0]
    assert waiting == asked
    assert list(client.threads.get(thread)["interrupts"].values()) == [[asked]]
    answer = {"decisions": [{"type": "approve"}]}
    values = client.runs.wait(thread, "review", input={}, command={"resume": answer})
    assert texts(values) == [("human", "send it"), ("ai", "decided approve")]


def test_langgraph__a_run_past_its_time_limit_is_a_timeout(alice: httpx.Client, live: str) -> None:
    register("hasty", "uai.agents.builtin.slow:slow", timeout_seconds=1, max_attempts=1)
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    got = parts(client.runs.stream(thread, "hasty", input=slow(100), stream_mode=["values"]))
    assert got[-1] == ("end", {"run_id": got[0][1]["run_id"], "status": "timeout"})
    assert "error" in [name for name, _ in got]
    assert client.runs.get(thread, got[0][1]["run_id"])["status"] == "timeout"


def _thread_events(alice: httpx.Client, thread: str, last_event_id: str, count: int) -> list[Any]:
    """The first ``count`` events of a thread's stream after ``last_event_id`` (the stream never
    ends by itself; a read waiting 5 s for more fails the test)."""
    from httpx_sse import connect_sse

    got: list[Any] = []
    headers = {"x-api-key": token_of(alice), "Last-Event-ID": last_event_id}
    with (
        httpx.Client(base_url=api_root(alice), timeout=httpx.Timeout(30, read=5)) as http,
        connect_sse(http, "GET", f"/threads/{thread}/stream", headers=headers) as source,
    ):
        for event in source.iter_sse():
            got.append((event.id, event.event, json.loads(event.data)))
            if len(got) == count:
                break
    return got


def test_langgraph__a_thread_stream_resumes_from_any_event_as_its_replay(alice: httpx.Client) -> None:
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    asking = user(json.dumps({"steps": 2, "delay": 0.01, "ask": "Name?"}))
    client.runs.wait(thread, "slow", input=asking)
    client.runs.wait(thread, "slow", command={"resume": "Al"})
    client.runs.wait(thread, "slow", input=slow(1, 0.01))
    runs = [r["run_id"] for r in client.runs.list(thread)][::-1]
    # the whole thread replayed, to its last event (the last turn's final values)
    count = 1
    while True:
        whole = _thread_events(alice, thread, "-1", count)
        if whole[-1][1] == "values" and texts(whole[-1][2])[-1] == ("ai", "Done after 1 steps."):
            break
        count += 1
    assert [data["run_id"] for _, name, data in whole if name == "metadata"] == runs
    segment_values = [texts(data) for _, name, data in whole if name == "values"]
    assert ("human", "Al") not in [m for values in segment_values for m in values]
    ids = [event_id for event_id, _, _ in whole]
    assert len(set(ids)) == len(ids) and all(ids)
    for at, event_id in enumerate(ids[:-1]):
        assert _thread_events(alice, thread, event_id, len(whole) - at - 1) == whole[at + 1 :], event_id


def test_langgraph__new_input_drops_a_question_only_when_its_turn_starts(alice: httpx.Client) -> None:
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    asking = user(json.dumps({"steps": 3, "delay": 0.2, "ask": "Name?"}))
    client.runs.wait(thread, "slow", input=asking)
    assert client.threads.get(thread)["status"] == "interrupted"
    # a refused message drops nothing: the question still waits
    with pytest.raises(httpx.HTTPStatusError):
        client.runs.wait(thread, "slow", input=user("x" * 100_001))
    assert client.threads.get(thread)["status"] == "interrupted"
    # answered, the turn runs again: new input beside it is rejected, and the turn goes on
    resumed = client.runs.create(thread, "slow", command={"resume": "Al"})
    with pytest.raises(ConflictError):
        client.runs.create(thread, "slow", input=slow(1))
    assert texts(client.runs.join(thread, resumed["run_id"]))[-1][1].endswith("You answered: Al")
    assert client.runs.get(thread, resumed["run_id"])["status"] == "success"


def test_langgraph__a_stateless_run_s_thread_goes_when_its_client_leaves(alice: httpx.Client) -> None:
    client = sdk(alice)
    stream = client.runs.stream(None, "slow", input=slow(100), stream_mode=["custom"])
    first = next(iter(stream))
    assert first.event == "metadata"
    for part in stream:
        if part.event == "custom":
            break
    stream.close()
    wait_for(lambda: client.threads.search(metadata={"stateless": True}) == [])


def test_langgraph__only_a_thread_s_newest_turn_rolls_back_and_a_turn_deletes_whole(
    alice: httpx.Client,
) -> None:
    client = sdk(alice)
    thread = client.threads.create()["thread_id"]
    asked = client.runs.create(
        thread, "slow", input=user(json.dumps({"steps": 1, "delay": 0.01, "ask": "?"}))
    )
    client.runs.join(thread, asked["run_id"])
    answered = client.runs.create(thread, "slow", command={"resume": "ok"})
    client.runs.join(thread, answered["run_id"])
    later = client.runs.wait(thread, "slow", input=slow(1, 0.01))
    assert texts(later)[-1] == ("ai", "Done after 1 steps.")
    with pytest.raises(ConflictError):  # an earlier turn's
        client.runs.cancel(thread, answered["run_id"], action="rollback")
    with pytest.raises(ConflictError):  # a turn's earlier segment: its newest deletes the turn
        client.runs.delete(thread, asked["run_id"])
    client.runs.delete(thread, answered["run_id"])
    with pytest.raises(NotFoundError):
        client.runs.get(thread, asked["run_id"])


# What each stream mode sends of a turn, between ``metadata`` and ``end``.
MODE_EVENTS = {
    "values": {"values"},
    "updates": {"updates"},
    "messages-tuple": {"messages"},
    "messages": {"messages/metadata", "messages/partial", "messages/complete"},
    "custom": {"custom"},
    "events": set(),
}


@pytest.mark.parametrize("mode", list(MODE_EVENTS))
def test_langgraph__each_stream_mode_with_a_langgraph_and_a_python_agent(
    alice: httpx.Client, graph_agent: str, mode: str
) -> None:
    client = sdk(alice)
    for agent, answer in ((graph_agent, "hello there friend"), ("echo", "hi")):
        thread = client.threads.create()["thread_id"]
        got = parts(client.runs.stream(thread, agent, input=user("hi"), stream_mode=mode))
        assert got[0][0] == "metadata" and got[-1] == (
            "end",
            {"run_id": got[0][1]["run_id"], "status": "success"},
        )
        names = {name for name, _ in got[1:-1]}
        # a Python agent has no state to tell (custom); a LangGraph agent's is its graph's
        expected = MODE_EVENTS[mode] if (mode, agent) != ("custom", "echo") else set()
        assert names == expected, (agent, names)
        if mode == "messages-tuple":
            assert "".join(chunk["content"] for name, (chunk, _) in got[1:-1]) == answer
        if mode == "messages":
            assert [data for name, data in got if name == "messages/complete"][-1][0]["content"] == answer
        if mode == "updates":
            said = [u["agent"]["messages"][0]["content"] for _, u in got[1:-1] if "agent" in u]
            assert said == [answer]
        if mode == "values":
            assert texts(got[-2][1]) == [("human", "hi"), ("ai", answer)]
