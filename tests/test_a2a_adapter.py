"""The a2a adapter: a remote agent served by the a2a-sdk's own server (tests/a2a_remote.py), put
behind UAI by its card URL, driven through seed 001's WebSocket and the native `/run/` API."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from tests.a2a_remote import Remote, serve
from tests.conftest import (
    cancel_run,
    collect,
    free_port,
    register_agent,
    token_of,
    wait_for,
    wait_run,
    ws_url,
)

FRAME_SECONDS = 15


@pytest.fixture
def remote() -> Iterator[Remote]:
    with serve() as agent:
        yield agent


def register(name: str, url: str, **options: Any) -> None:
    register_agent(
        name, "a2a", options={"url": url, **options}, streams=True, asks_input=True, accepts_files=True
    )


async def turn(ws: Any, text: str, message_id: str) -> list[dict[str, Any]]:
    """Send a message; the frames up to its message_end."""
    await ws.send(json.dumps({"type": "client", "message": text, "message_id": message_id}))
    frames = []
    while (frame := json.loads(await asyncio.wait_for(ws.recv(), FRAME_SECONDS)))["type"] != "message_end":
        frames.append(frame)
    return frames


def steps(frames: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(f["step_type"], f["message"]) for f in frames if f["type"] == "agent_step"]


def test_a2a__websocket_turns_stream_steps_answer_a_question_in_one_remote_context(
    live: str, alice: httpx.Client, remote: Remote
) -> None:
    from uai.chats.models import Chat

    # Auth from the entry: a bearer token from the environment (the server's has OPENAI_API_KEY)
    # and a header of its own.
    register("remote", remote.card_url, token_env="OPENAI_API_KEY", headers={"X-Api-Key": "k1"})

    async def talk() -> list[list[dict[str, Any]]]:
        url = ws_url(live, f"/chat/a2a-ws?agent=remote&token={token_of(alice)}")
        async with websockets.connect(url) as ws:
            return [
                await turn(ws, "steps please", "m1"),
                await turn(ws, "ask me", "m2"),  # ends at the question (input_required)
                await turn(ws, "Ada", "m3"),  # the answer: the same run, the same remote task
            ]

    first, asked, answered = asyncio.run(talk())
    assert steps(first) == [
        ("PlanningStep", "Planning the work"),  # its type named by the part's metadata
        ("ActionStep", "Looking things up"),
        ("FinalAnswerStep", "Hello, world"),  # three appended artifact chunks
    ]
    assert steps(asked) == [("InputRequestStep", "Your name?")]
    assert steps(answered) == [("FinalAnswerStep", "Hi Ada")]

    # One remote conversation for the chat, kept in its state; the answer went to the asking task.
    (steps_task, context, _), (ask_task, context2, _), (answer_task, context3, answer) = remote.calls
    assert context == context2 == context3
    assert ask_task == answer_task != steps_task and answer == "Ada"
    assert Chat.objects.get(pk="a2a-ws").state["a2a"]["context_id"] == context
    assert all(h.get("authorization") == "Bearer sk-test" for h in remote.headers), remote.headers
    assert all(h.get("x-api-key") == "k1" for h in remote.headers)


def test_a2a__runs_over_http_json_steps_artifacts_files_and_input(
    alice: httpx.Client, remote: Remote
) -> None:
    register("remote-rest", remote.url, binding="HTTP+JSON")  # a base URL: its well-known card

    task = alice.post("/run/", json={"agent": "remote-rest", "input": "steps"}).json()["task_id"]
    assert wait_run(alice, task, "succeeded", "failed")["output"] == "Hello, world"
    events = collect(alice, "GET", f"/run/{task}/stream", until=lambda e: False)  # replayed; ends
    ran = [json.loads(e.data)["data"] for e in events if e.event == "step"]
    assert [(s["step_type"], s["content"]) for s in ran] == [
        ("PlanningStep", "Planning the work"),
        ("ActionStep", "Looking things up"),
        ("FinalAnswerStep", "Hello, world"),
    ]
    deltas = [json.loads(e.data)["data"]["text"] for e in events if e.event == "delta"]
    assert "".join(deltas) == "Hello, world"  # the artifact's chunks, streamed (maybe coalesced)
    types = [e.event for e in events]
    assert types.index("delta") < max(i for i, t in enumerate(types) if t == "step")  # before the answer
    made = alice.get(f"/run/{task}/artifacts").json()
    table = next(a for a in made if a["name"] == "table.json")
    assert alice.get(f"/run/{task}/artifacts/{table['id']}/download").json() == {"rows": 2}

    asking = alice.post("/run/", json={"agent": "remote-rest", "input": "ask"}).json()["task_id"]
    assert wait_run(alice, asking, "input_required")["input_prompt"] == "Your name?"
    assert alice.post(f"/run/{asking}/input", json={"text": "Grace"}).status_code == 200
    assert wait_run(alice, asking, "succeeded", "failed")["output"] == "Hi Grace"
    assert [c[2] for c in remote.calls[-2:]] == ["ask", "Grace"]
    assert remote.calls[-2][0] == remote.calls[-1][0]  # one remote task, answered

    # An artifact streamed before a question and appended to after it: one text.
    drafting = alice.post("/run/", json={"agent": "remote-rest", "input": "draft"}).json()["task_id"]
    assert wait_run(alice, drafting, "input_required")["input_prompt"] == "To whom?"
    alice.post(f"/run/{drafting}/input", json={"text": "Ada"})
    assert wait_run(alice, drafting, "succeeded", "failed")["output"] == "Dear, Ada"
    events = collect(alice, "GET", f"/run/{drafting}/stream", until=lambda e: False)
    assert "".join(json.loads(e.data)["data"]["text"] for e in events if e.event == "delta") == "Dear, Ada"

    with_file = alice.post(
        "/run/",
        data={"agent": "remote-rest", "input": "files"},
        files={"files": ("a.txt", b"alpha", "text/plain")},
    )
    assert with_file.status_code == 201, with_file.text
    done = wait_run(alice, with_file.json()["task_id"], "succeeded", "failed")
    assert done["output"] == "got a.txt (5 bytes)"
    assert remote.files == [("a.txt", "text/plain", 5)]

    # A run's JSON input: its JSON text by default, a data part when the entry says so.
    task = alice.post("/run/", json={"agent": "remote-rest", "input": {"n": 1}}).json()["task_id"]
    assert wait_run(alice, task, "succeeded", "failed")["output"] == '{"n": 1}'  # echoed
    register("remote-data", remote.url, json_input="data")
    task = alice.post("/run/", json={"agent": "remote-data", "input": {"n": 2}}).json()["task_id"]
    assert wait_run(alice, task, "succeeded", "failed")["status"] == "succeeded"
    assert remote.data == [{"n": 2}] and remote.calls[-1][2] == ""
    assert all("authorization" not in h for h in remote.headers)  # no auth configured: none sent


def test_a2a__cancelling_the_run_cancels_the_remote_task(alice: httpx.Client, remote: Remote) -> None:
    register("remote", remote.card_url)
    task = alice.post("/run/", json={"agent": "remote", "input": "slow"}).json()["task_id"]
    wait_for(lambda: remote.slow)
    wait_run(alice, task, "running")
    started = time.monotonic()
    cancel_run(alice, task)  # cancelled at once, its job aborted within 2 s
    wait_for(lambda: remote.cancelled, timeout=5)
    assert remote.cancelled == remote.slow  # CancelTask reached the remote agent's executor
    assert time.monotonic() - started < 5
    assert run_status_after(alice, task) == "cancelled"

    # A run cancelled while it waits for an answer: the remote task that asked is cancelled too.
    asking = alice.post("/run/", json={"agent": "remote", "input": "ask"}).json()["task_id"]
    wait_run(alice, asking, "input_required")
    cancel_run(alice, asking)
    remote_task = remote.calls[-1][0]
    wait_for(lambda: remote_state(remote, remote_task) == "TASK_STATE_CANCELED", timeout=5)


def remote_state(remote: Remote, task_id: str) -> str:
    """The remote task's state, asked with the a2a-sdk's own client."""
    from a2a.client import create_client
    from a2a.types.a2a_pb2 import GetTaskRequest, TaskState

    async def ask() -> str:
        client = await create_client(remote.url)
        try:
            task = await client.get_task(GetTaskRequest(id=task_id))
        finally:
            await client.close()
        return str(TaskState.Name(task.status.state))

    return asyncio.run(ask())


def run_status_after(client: httpx.Client, task: str) -> str:
    time.sleep(0.5)  # nothing that follows the cancel changes the run
    status: str = client.get(f"/run/{task}").json()["status"]
    return status


def test_a2a__a_silent_stream_is_followed_again_and_a_remote_that_cannot_stream_is_polled(
    alice: httpx.Client, remote: Remote
) -> None:
    # The remote says nothing for 1.5 s (its SSE pings come every 15 s): past the 0.6 s this
    # entry allows a stream's silence, UAI subscribes to the task again instead of failing it.
    register("pauser", remote.card_url, stream_idle_seconds=0.6)
    task = alice.post("/run/", json={"agent": "pauser", "input": "pause"}).json()["task_id"]
    assert wait_run(alice, task, "succeeded", "failed")["output"] == "before the pause, after it"
    # The task's snapshot that starts a resubscription holds the artifact so far: not twice.
    events = collect(alice, "GET", f"/run/{task}/stream", until=lambda e: False)
    deltas = [json.loads(e.data)["data"]["text"] for e in events if e.event == "delta"]
    assert "".join(deltas) == "before the pause, after it"
    assert [c[2] for c in remote.calls] == ["pause"]  # followed, not sent again
    with serve(streaming=False) as quiet:  # a card without streaming: returnImmediately, GetTask
        register("quiet", quiet.card_url, binding="HTTP+JSON", poll_seconds=0.2)
        task = alice.post("/run/", json={"agent": "quiet", "input": "steps"}).json()["task_id"]
        assert wait_run(alice, task, "succeeded", "failed")["output"] == "Hello, world"
        assert quiet.paths[0] == "POST /rest/message:send", quiet.paths
        assert "POST /rest/message:stream" not in quiet.paths
        gets = quiet.paths.count("GET /rest/tasks/" + quiet.calls[0][0])
        assert gets >= 1  # polled, every 0.2 s (the entry's poll_seconds, not the setting's 1 s)


def test_a2a__credentials_go_only_to_the_cards_origin_unless_the_entry_says_otherwise(
    alice: httpx.Client, remote: Remote
) -> None:
    # `remote` is the other origin: a card that names its interfaces there, and a card that
    # redirects there. Neither is called with the entry's credentials: the run fails, saying so.
    secret = {"token_env": "OPENAI_API_KEY", "headers": {"X-Api-Key": "k1"}}
    with serve(interfaces_at=remote.url) as pointer, serve(card_redirect=remote.card_url) as mover:
        register("pointer", pointer.card_url, **secret)
        register("mover", mover.card_url, **secret)
        task = alice.post("/run/", json={"agent": "pointer", "input": "steps"}).json()["task_id"]
        failed = wait_run(alice, task, "failed", "succeeded")
        assert (
            f"the agent card at {pointer.card_url} names its JSONRPC interface at {remote.url}/jsonrpc,"
            " another origin: the entry's credentials go only to the card's origin"
        ) in failed["error"], failed
        task = alice.post("/run/", json={"agent": "mover", "input": "steps"}).json()["task_id"]
        failed = wait_run(alice, task, "failed", "succeeded")
        assert (
            f"the agent card at {mover.card_url} redirects to {remote.card_url}, another origin:"
            " not followed with the entry's credentials"
        ) in failed["error"], failed
        assert remote.cards == [] and remote.headers == [] and remote.calls == []  # nothing reached it
        assert [h.get("x-api-key") for h in mover.cards] == ["k1"]  # (its own origin: sent)

        # The entry names the URL to call: the card's other origin is not used.
        register(
            "pinned", pointer.card_url, interface_url=pointer.url + "/rest", binding="HTTP+JSON", **secret
        )
        task = alice.post("/run/", json={"agent": "pinned", "input": "steps"}).json()["task_id"]
        assert wait_run(alice, task, "succeeded", "failed")["output"] == "Hello, world"
        assert [c[2] for c in pointer.calls] == ["steps"] and remote.headers == []
        assert all(h.get("authorization") == "Bearer sk-test" for h in pointer.headers)

        # The entry allows any origin: the card and its interfaces are followed there.
        register("pointer-any", pointer.card_url, allow_other_origins=True, **secret)
        register("mover-any", mover.card_url, allow_other_origins=True, **secret)
        for agent in ["pointer-any", "mover-any"]:
            task = alice.post("/run/", json={"agent": agent, "input": "steps"}).json()["task_id"]
            assert wait_run(alice, task, "succeeded", "failed")["output"] == "Hello, world"
        assert [c[2] for c in remote.calls] == ["steps", "steps"]
        assert len(remote.cards) == 1  # the redirected card

    # A redirect within the card's origin is followed, credentials and all.
    with serve(card_redirect="/.well-known/agent-card.json?moved=1") as moved:
        register("moved", moved.card_url, **secret)
        task = alice.post("/run/", json={"agent": "moved", "input": "steps"}).json()["task_id"]
        assert wait_run(alice, task, "succeeded", "failed")["output"] == "Hello, world"
        assert [h.get("x-api-key") for h in moved.cards] == ["k1", "k1"]


def test_a2a__a_remote_of_protocol_0_3_is_driven_over_both_bindings(alice: httpx.Client) -> None:
    with serve(version="0.3") as old:
        register("old-rpc", old.card_url, binding="JSONRPC")
        register("old-rest", old.card_url, binding="HTTP+JSON")
        for agent in ["old-rpc", "old-rest"]:
            task = alice.post("/run/", json={"agent": agent, "input": "ask"}).json()["task_id"]
            assert wait_run(alice, task, "input_required")["input_prompt"] == "Your name?"
            alice.post(f"/run/{task}/input", json={"text": "Lin"})
            assert wait_run(alice, task, "succeeded", "failed")["output"] == "Hi Lin"
    assert old.methods == ["message/stream", "message/stream"]  # 0.3's names
    assert [p for p in old.paths if p.startswith("POST /rest")] == ["POST /rest/v1/message:stream"] * 2


def test_a2a__unreachable_card_refused_config_and_remote_failure_fail_the_run_clearly(
    alice: httpx.Client, remote: Remote
) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}/.well-known/agent-card.json"  # nothing listens
    register("nowhere", nowhere)
    register("remote", remote.card_url)
    register_agent("badurl", "a2a", options={"url": "ftp://example.com/card"})

    started = time.monotonic()
    task = alice.post("/run/", json={"agent": "nowhere", "input": "hi"}).json()["task_id"]
    failed = wait_run(alice, task, "failed", "succeeded", timeout=10)
    assert failed["status"] == "failed"
    assert f"cannot read the agent card at {nowhere}" in failed["error"]
    assert time.monotonic() - started < 10

    task = alice.post("/run/", json={"agent": "remote", "input": "fail"}).json()["task_id"]
    failed = wait_run(alice, task, "failed", "succeeded")
    assert failed["status"] == "failed"
    assert "the remote agent's task failed: boom" in failed["error"]

    for word, error in [
        ("reject", "the remote agent's task was rejected: not for me"),
        ("login", "the remote agent asks for authentication, which UAI cannot give: sign in first"),
    ]:
        task = alice.post("/run/", json={"agent": "remote", "input": word}).json()["task_id"]
        failed = wait_run(alice, task, "failed", "succeeded")
        assert error in failed["error"], failed

    # The remote cancelled its own task: the run ends with what it produced, and says so.
    task = alice.post("/run/", json={"agent": "remote", "input": "quit"}).json()["task_id"]
    assert wait_run(alice, task, "succeeded", "failed")["output"] == "partial"
    logs = [line["message"] for line in alice.get(f"/run/{task}/logs").json()]
    assert "The remote agent cancelled its task." in logs

    task = alice.post("/run/", json={"agent": "badurl", "input": "hi"}).json()["task_id"]
    failed = wait_run(alice, task, "failed", "succeeded")
    assert failed["status"] == "failed"
    assert "options.url must be the agent card's http(s) URL" in failed["error"]

    register("unset", remote.card_url, token_env="UAI_TEST_UNSET_TOKEN")
    task = alice.post("/run/", json={"agent": "unset", "input": "hi"}).json()["task_id"]
    failed = wait_run(alice, task, "failed", "succeeded")
    assert "the environment variable UAI_TEST_UNSET_TOKEN (the bearer token) is not set" in failed["error"]
    sent = [c[2] for c in remote.calls]
    assert sent == ["fail", "reject", "login", "quit"]  # nothing was sent without its credentials


def test_a2a__the_readmes_entry_loads_and_bad_entries_stop_start_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.test import override_settings

    from uai.agents.adapters.a2a import A2AAdapter
    from uai.agents.registry import AgentConfigError, build_adapter, check_declared_agents, load_agents_file

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme.split("### Put an A2A agent behind UAI", 1)[1]
    snippet = section.split("```toml\n", 1)[1].split("```", 1)[0]
    path = tmp_path / "agents.toml"
    path.write_text(snippet)
    with override_settings(UAI_AGENTS={}, UAI_AGENTS_FILE=str(path)):
        check_declared_agents()  # builds it: nothing to fix
    from uai.agents.models import Agent

    spec = load_agents_file(str(path))["travel"]
    adapter = build_adapter(Agent(name="travel", **spec))
    assert isinstance(adapter, A2AAdapter)
    monkeypatch.setenv("TRAVEL_TOKEN", "t0k")
    monkeypatch.setenv("TRAVEL_KEY", "k3y")
    assert adapter._auth_headers() == {"X-Team": "uai", "X-Api-Key": "k3y", "Authorization": "Bearer t0k"}

    # The limits come from settings through the registry (the adapter reads none); an entry's own win.
    with override_settings(UAI_A2A_POLL_SECONDS=0.25, UAI_A2A_CANCEL_SECONDS=3.0):
        row = Agent(name="limits", adapter="a2a", options={"url": "http://a.example", "cancel_seconds": 1})
        limited = build_adapter(row)
    assert isinstance(limited, A2AAdapter)
    assert (limited.poll_seconds, limited.cancel_seconds) == (0.25, 1.0)

    for options, complaint in [
        ({}, "options.url must be the agent card's http(s) URL"),
        ({"url": "file:///etc/card.json"}, "options.url must be"),
        ({"url": "http://a.example", "binding": "GRPC"}, "options.binding must be one of JSONRPC, HTTP+JSON"),
        ({"url": "http://a.example", "headers": {"X": 1}}, "options.headers must be a table of strings"),
        ({"url": "http://a.example", "cancel_seconds": 0}, "options.cancel_seconds must be a number"),
        ({"url": "http://a.example", "poll_seconds": "1"}, "options.poll_seconds must be a number"),
        ({"url": "http://a.example", "interface_url": "http://b.example/rpc"}, "options.interface_url needs"),
        (
            {"url": "http://a.example", "interface_url": "b.example", "binding": "JSONRPC"},
            "options.interface_url must",
        ),
        ({"url": "http://a.example", "allow_other_origins": "yes"}, "options.allow_other_origins must be"),
    ]:
        path.write_text(f"[agents.bad]\nadapter = 'a2a'\noptions = {toml_inline(options)}\n")
        refused = pytest.raises(AgentConfigError, match=re.escape(complaint))
        with override_settings(UAI_AGENTS={}, UAI_AGENTS_FILE=str(path)), refused:
            check_declared_agents()


def toml_inline(value: dict[str, Any]) -> str:
    """A flat table as TOML's inline table (JSON's scalars are TOML's)."""
    return (
        "{"
        + ", ".join(
            f"{json.dumps(k)} = {toml_inline(v) if isinstance(v, dict) else json.dumps(v)}"
            for k, v in value.items()
        )
        + "}"
    )


def test_a2a__the_adapters_task_states_are_the_sdks() -> None:
    """The adapter names A2A's task states without importing the SDK at start-up: the same numbers."""
    from a2a.types.a2a_pb2 import TaskState

    from uai.agents.adapters import a2a

    names = ["SUBMITTED", "WORKING", "COMPLETED", "FAILED", "CANCELED", "INPUT_REQUIRED", "REJECTED"]
    for name in [*names, "AUTH_REQUIRED"]:
        assert getattr(a2a, name) == TaskState.Value(f"TASK_STATE_{name}")
