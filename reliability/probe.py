"""What the suite measures with: the clients (REST turns, WebSocket followers), the database monitor
and the checks that turn what they saw into figures.

Definitions (the README's "Reliability" section says the same):
* sent — turns (and runs) a client sent; refused — answered with an error and not stored, so the
  client knows to send it again (not a loss);
* answered — stored and with a final answer (a succeeded run) once the scenario settled;
* lost — stored (or acknowledged) but without a final answer when the scenario's deadline passed,
  or a step a WebSocket follower never received;
* duplicated — a user message stored twice, two final answers to one message, a step more often in
  one run than the run had attempts (a retried run starts again from the beginning, after the
  steps its earlier attempts gave), or one WebSocket frame delivered twice to a follower;
* stuck — a run that was wrong (below) longer than ``STUCK_AFTER_SECONDS``, or still active when
  the scenario's deadline passed;
* wrong — an active run whose job is gone or ended, or that is held by a worker process that has
  ended (killed, or died by itself); "longest wrong" is the longest such stretch of one run;
* recover — from the fault's end (the kill, the service back) until every web process answers
  ``/healthz`` 200 and a new turn has been answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import websockets

from reliability.topology import STALLED_SECONDS, Topology

ACTIVE = ("queued", "running", "input_required")
STUCK_AFTER_SECONDS = 2 * STALLED_SECONDS + 5  # a dead worker's run must be retried within this
REQUEST_TIMEOUT_SECONDS = 30.0  # one REST call; a turn that is not back by then is checked later
MONITOR_INTERVAL_SECONDS = 0.25


@dataclass
class Figures:
    """One scenario's row of the table."""

    scenario: str
    sent: int = 0
    refused: int = 0
    answered: int = 0
    lost: int = 0
    duplicated: int = 0
    stuck: int = 0
    longest_wrong_s: float = 0.0
    recover_s: float | None = None  # None: not recovered before the deadline
    settle_s: float | None = None  # from the fault's end until no run was active
    seconds: float = 0.0
    needs_recovery: bool = True
    notes: list[str] = field(default_factory=list)
    hung: list[str] = field(default_factory=list)  # processes still running 10 s after SIGTERM
    error: str = ""

    @property
    def ok(self) -> bool:
        """No loss, duplicate or stuck run, recovered, no process hung on SIGTERM, no harness error."""
        recovered = self.recover_s is not None or not self.needs_recovery
        return not (self.lost or self.duplicated or self.stuck or self.error or self.hung) and recovered


@dataclass
class Turn:
    """One turn a client sent."""

    chat_id: str
    message_id: str
    sent_at: float
    status: int | None = None  # HTTP status of the POST; None: no answer (connection, timeout)
    answered_at: float | None = None  # when the POST came back with a final answer


class Ledger:
    """Everything the clients of one scenario sent."""

    def __init__(self) -> None:
        self.turns: list[Turn] = []
        self.run_ids: list[str] = []
        self.chats: set[str] = set()
        self.refused_runs = 0
        self.background: list[asyncio.Task[None]] = []  # a fault's restarts, awaited before the checks
        self.killed: list[str] = []  # processes the fault ended on purpose


async def poll_until(predicate: Callable[[], Any], deadline: float, interval: float = 0.05) -> bool:
    """Poll until ``predicate()`` is true (True) or the monotonic ``deadline`` passes (False)."""
    while True:
        if predicate():
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(interval)


def headers(topo: Topology) -> dict[str, str]:
    """The suite user's credentials."""
    return {"Authorization": f"Bearer {topo.token}"}


async def new_chat(client: httpx.AsyncClient, topo: Topology, agent: str, web: int = 0) -> str:
    """Create a chat of ``agent``; its id."""
    response = await client.post(f"{topo.webs[web].url}/chat/", json={"agent": agent})
    response.raise_for_status()
    return str(response.json()["session_id"])


async def send_turn(
    client: httpx.AsyncClient,
    topo: Topology,
    ledger: Ledger,
    chat_id: str,
    text: str,
    web: int,
    *,
    wait: bool = True,
) -> Turn:
    """One REST turn (``POST /chat/{id}``, waiting unless told), recorded in the ledger whatever happens."""
    turn = Turn(chat_id, uuid.uuid4().hex, time.monotonic())
    ledger.turns.append(turn)
    ledger.chats.add(chat_id)
    try:
        response = await client.post(
            f"{topo.webs[web].url}/chat/{chat_id}",
            json={"text": text, "message_id": turn.message_id, "wait": wait},
            timeout=REQUEST_TIMEOUT_SECONDS,
        )
    except httpx.HTTPError:
        return turn
    turn.status = response.status_code
    with contextlib.suppress(ValueError, AttributeError):
        if response.status_code == 200 and response.json().get("status") == "succeeded":
            turn.answered_at = time.monotonic()
    return turn


async def turn_loop(
    client: httpx.AsyncClient,
    topo: Topology,
    ledger: Ledger,
    chat_id: str,
    text: str,
    stop: asyncio.Event,
    *,
    web: int,
    max_turns: int,
) -> None:
    """Send turns one after the other until ``stop`` (or ``max_turns``); on a failed call, the next
    goes to the other web process, as a client behind a load balancer would."""
    for _ in range(max_turns):
        if stop.is_set():
            return
        turn = await send_turn(client, topo, ledger, chat_id, text, web)
        if turn.answered_at is None:
            web = (web + 1) % len(topo.webs)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)  # no busy loop against a server that is down


async def start_run(client: httpx.AsyncClient, topo: Topology, ledger: Ledger, agent: str, data: Any) -> None:
    """Start a run (``POST /run/``)."""
    try:
        response = await client.post(f"{topo.webs[0].url}/run/", json={"agent": agent, "input": data})
        response.raise_for_status()
        ledger.run_ids.append(str(response.json()["task_id"]))
    except httpx.HTTPError:
        ledger.refused_runs += 1


class Follower:
    """A live WebSocket follower of one chat: reconnects and resumes after the last ``seq`` it saw."""

    def __init__(self, topo: Topology, chat_id: str, web: int) -> None:
        self.topo, self.chat_id, self.web = topo, chat_id, web
        self.frames: list[dict[str, Any]] = []
        self.last_seq = 0
        self.reconnects = 0
        self.connected = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Follow in the background."""
        self.task = asyncio.create_task(self._follow())

    async def _follow(self) -> None:
        while True:
            url = f"{self.topo.webs[self.web].ws}/chat/{self.chat_id}?token={self.topo.token}&after_seq={self.last_seq}"
            try:
                async with websockets.connect(url, open_timeout=5, max_size=None) as ws:
                    self.connected.set()
                    async for raw in ws:
                        frame = json.loads(raw)
                        self.frames.append(frame)
                        if isinstance(frame.get("seq"), int):
                            self.last_seq = max(self.last_seq, frame["seq"])
            except (OSError, websockets.exceptions.WebSocketException, TimeoutError):
                pass
            # Closed (1013 while the database is away, the web process killed…): come back, maybe on
            # the other web process.
            self.reconnects += 1
            self.web = (self.web + 1) % len(self.topo.webs)
            await asyncio.sleep(0.25)

    async def stop(self) -> None:
        """Stop following."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class Monitor:
    """Polls the database for active runs and how long each has been wrong (module docstring)."""

    def __init__(self, topo: Topology, since: float) -> None:
        self.topo = topo
        self.since_wall = since  # runs created before this belong to an earlier scenario
        self.wrong_since: dict[str, float] = {}
        self.longest: dict[str, float] = {}
        self.active: set[str] | None = None  # None until the first successful poll
        self.last_poll = 0.0
        self.states: dict[str, str] = {}  # active run -> what it looked like at the last poll
        self.task: asyncio.Task[None] | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None

    def start(self) -> None:
        """Poll in the background."""
        self.task = asyncio.create_task(self._loop())

    async def _loop(self) -> None:
        while True:
            self.topo.note_dead_workers()
            try:
                await self.poll()
            except psycopg.Error:
                # The database is away: what was wrong stays wrong until it can be seen again.
                if self._conn is not None:
                    with contextlib.suppress(Exception):
                        await self._conn.close()
                self._conn = None
            await asyncio.sleep(MONITOR_INTERVAL_SECONDS)

    async def poll(self) -> None:
        """One look at every active run of this scenario."""
        if self._conn is None:
            self._conn = await psycopg.AsyncConnection.connect(
                self.topo.dsn, autocommit=True, connect_timeout=2
            )
        rows = await (
            await self._conn.execute(
                "SELECT r.id::text, r.status, j.status::text, j.worker_id, r.kind FROM runs_run r "
                "LEFT JOIN procrastinate_jobs j ON j.id = r.job_id "
                "WHERE r.status = ANY(%s) AND r.created_at >= to_timestamp(%s)",
                [list(ACTIVE), self.since_wall],
            )
        ).fetchall()
        now = time.monotonic()
        dead = self.topo.dead_worker_ids
        seen = set()
        self.states = {}
        for run_id, status, job_status, worker_id, kind in rows:
            seen.add(run_id)
            self.states[run_id] = f"{kind} {status}, job {job_status or 'gone'}"
            wrong = (
                job_status not in ("todo", "doing")  # the job is gone or ended: nobody will finish the run
                or (job_status == "doing" and (worker_id is None or worker_id in dead))  # its worker is dead
                or (status == "running" and job_status == "todo")  # says running, but nobody runs it
            )
            if wrong:
                self.wrong_since.setdefault(run_id, now)
                self.longest[run_id] = max(self.longest.get(run_id, 0.0), now - self.wrong_since[run_id])
            else:
                self.wrong_since.pop(run_id, None)
        for run_id in set(self.wrong_since) - seen:
            del self.wrong_since[run_id]  # ended: its last stretch is in ``longest`` already
        self.active = seen
        self.last_poll = now

    @property
    def longest_wrong(self) -> float:
        """The longest stretch one run of this scenario stayed wrong, so far."""
        now = time.monotonic()
        current = [now - since for since in self.wrong_since.values()]
        return max([*self.longest.values(), *current, 0.0])

    def stuck(self) -> int:
        """Runs wrong longer than ``STUCK_AFTER_SECONDS``, plus runs active now."""
        now = time.monotonic()
        over = {r for r, s in self.longest.items() if s > STUCK_AFTER_SECONDS}
        over |= {r for r, since in self.wrong_since.items() if now - since > STUCK_AFTER_SECONDS}
        return len(over | (self.active or set()))

    def describe_active(self) -> str:
        """The active runs at the last poll, counted by how they looked."""
        counts = Counter(self.states.values())
        return ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))

    async def settled(self, deadline: float) -> float | None:
        """Wait (polling) until no run of this scenario is active; when, or None at the deadline."""
        while time.monotonic() < deadline:
            if self.active == set() and time.monotonic() - self.last_poll < 2 * MONITOR_INTERVAL_SECONDS:
                return time.monotonic()
            await asyncio.sleep(MONITOR_INTERVAL_SECONDS)
        return None

    async def stop(self) -> None:
        """Stop polling; close the connection."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close()


async def recovery(
    client: httpx.AsyncClient, topo: Topology, ledger: Ledger, chat_id: str, since: float, deadline: float
) -> float | None:
    """Seconds from ``since`` until every web process is healthy and a new turn was answered (None:
    not before the deadline). The probe turns count in the ledger like any other."""
    healthy_at = answered_at = None
    web = 0
    while time.monotonic() < deadline and (healthy_at is None or answered_at is None):
        if healthy_at is None and await asyncio.to_thread(topo.healthy):
            healthy_at = time.monotonic()
        if answered_at is None:
            turn = await send_turn(client, topo, ledger, chat_id, "probe", web)  # bounded by its timeout
            if turn.answered_at is not None:
                answered_at = turn.answered_at
            else:
                web = (web + 1) % len(topo.webs)
        await asyncio.sleep(0.1)
    if healthy_at is None or answered_at is None:
        return None
    return max(healthy_at, answered_at) - since


async def messages_of(client: httpx.AsyncClient, topo: Topology, chat_id: str) -> list[dict[str, Any]]:
    """Every stored message of a chat, in order."""
    return list((await get(client, topo, f"/chat/{chat_id}/messages")).json())


async def attempts_of(client: httpx.AsyncClient, topo: Topology, run_id: str) -> int:
    """How many attempts a run had (1 when it cannot be read)."""
    response = await get(client, topo, f"/run/{run_id}")
    return int(response.json().get("attempts") or 1) if response.status_code == 200 else 1


async def get(client: httpx.AsyncClient, topo: Topology, path: str) -> httpx.Response:
    """``GET path`` from the first web process that answers it (a 404 is an answer)."""
    failure: Exception | None = None
    for web in topo.webs:
        try:
            response = await client.get(web.url + path, timeout=REQUEST_TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            failure = exc
            continue
        if response.status_code < 500:
            if response.status_code != 404:
                response.raise_for_status()
            return response
        failure = httpx.HTTPStatusError(
            f"{response.status_code}", request=response.request, response=response
        )
    assert failure is not None
    raise failure


async def check_turns(client: httpx.AsyncClient, topo: Topology, ledger: Ledger, figures: Figures) -> None:
    """Count the ledger's turns and runs as answered, lost, duplicated or refused, from what is stored."""
    stored = {chat: await messages_of(client, topo, chat) for chat in ledger.chats}
    for chat_id, messages in stored.items():
        users = Counter(m["message_id"] for m in messages if m["role"] == "user" and m.get("message_id"))
        figures.duplicated += sum(n - 1 for n in users.values() if n > 1)
        finals = Counter(m["run_id"] for m in messages if m["step_type"] == "FinalAnswerStep")
        figures.duplicated += sum(n - 1 for n in finals.values() if n > 1)
        steps = Counter(
            (m["run_id"], m["step_type"], m["content"])
            for m in messages
            if m["role"] == "agent" and m["step_type"] != "FinalAnswerStep"
        )
        # A retried run starts again from the beginning, after its earlier attempts' steps (they
        # are kept): each attempt may give a step once, no attempt twice.
        for (run_id, _, _), n in steps.items():
            if n > 1:
                figures.duplicated += max(0, n - await attempts_of(client, topo, run_id))
        run_of = {m["message_id"]: m.get("run_id") for m in messages if m["role"] == "user"}
        for turn in (t for t in ledger.turns if t.chat_id == chat_id):
            figures.sent += 1
            if turn.message_id not in run_of:
                if turn.status in (200, 202):
                    figures.lost += 1  # acknowledged, yet not stored
                else:
                    figures.refused += 1
            elif finals.get(run_of[turn.message_id]):
                figures.answered += 1
            else:
                figures.lost += 1
    for run_id in ledger.run_ids:
        figures.sent += 1
        response = await get(client, topo, f"/run/{run_id}")
        status = response.json().get("status") if response.status_code == 200 else None
        if status == "succeeded":
            figures.answered += 1
        else:
            figures.lost += 1
    figures.sent += ledger.refused_runs
    figures.refused += ledger.refused_runs


async def check_follower(
    client: httpx.AsyncClient, follower: Follower, figures: Figures, deadline: float
) -> None:
    """Every agent step stored in the followed chat reached the follower once (waits for the last)."""
    messages = await messages_of(client, follower.topo, follower.chat_id)
    wanted = {m["seq"] for m in messages if m["role"] == "agent"}
    last = max(wanted, default=0)  # user messages have no frame of their own
    await poll_until(lambda: follower.last_seq >= last, deadline)
    await follower.stop()
    seqs = [f["seq"] for f in follower.frames if isinstance(f.get("seq"), int)]
    figures.duplicated += len(seqs) - len(set(seqs))
    steps = {f["seq"] for f in follower.frames if f.get("type") == "agent_step"}
    missing = wanted - steps
    if missing:
        figures.lost += len(missing)
        figures.notes.append(f"follower of {follower.chat_id[:8]} missed {len(missing)} steps")
