"""The scenarios: each breaks the running topology one way, under load, and returns its figures.

A fault scenario runs REST turn loops on a few chats (half on ``steps``, half on ``slow`` so that a
fault lands mid-turn), a live WebSocket follower per chat on the other web process, and a few
``slow`` runs; then it applies the fault, measures recovery, stops the loops, waits (bounded) for
every run to end and checks what was stored against what the clients sent and saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import websockets

from reliability import probe
from reliability.topology import ORCHESTRATOR_STOP_SECONDS, Proc, Topology

SLOW_TURN = json.dumps({"steps": 4, "delay": 0.25})  # a 1 s turn: a fault lands inside one
SLOW_RUN = {"steps": 8, "delay": 0.5}  # a 4 s run
BACKLOG_TURN_SECONDS = 0.5
BACKLOG_TURN = json.dumps({"steps": 1, "delay": BACKLOG_TURN_SECONDS})
LOOP_STOP_SECONDS = 5.0  # how long stopping turn loops may finish the turn they wait for
FOLLOWER_CATCH_UP_SECONDS = 10.0  # for followers to receive the last stored step (recheck: 1 s)


@dataclass(frozen=True)
class Size:
    """How big a scenario is: the full version and the short one of ``.ci/run``."""

    chats: int  # REST turn loops (each with a WebSocket follower)
    runs: int  # slow runs in flight when the fault comes
    outage_seconds: float  # how long PostgreSQL or Redis stays down
    settle_seconds: float  # from the fault's end: the deadline for recovery and for every run to end
    max_turns: int  # per loop: a bound even if the deadline logic failed
    ws_chats: int  # concurrent WebSocket chats
    ws_turns: int  # turns each
    align_kill: bool = True  # kill -9 a worker just after a minute boundary (kill_worker)


FULL = Size(chats=4, runs=4, outage_seconds=10, settle_seconds=75, max_turns=400, ws_chats=200, ws_turns=5)
SHORT = Size(chats=2, runs=2, outage_seconds=5, settle_seconds=20, max_turns=150, ws_chats=20, ws_turns=5)

Fault = Callable[[Topology, probe.Ledger, probe.Figures], Awaitable[float]]


async def _wait(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    """Poll until ``predicate()`` is true; RuntimeError after ``timeout`` seconds."""
    if not await probe.poll_until(predicate, time.monotonic() + timeout):
        raise RuntimeError(f"timed out waiting for {what}")


async def _running_runs(
    client: httpx.AsyncClient, topo: Topology, ledger: probe.Ledger
) -> list[dict[str, Any]]:
    found = []
    for run_id in ledger.run_ids:
        response = await probe.get(client, topo, f"/run/{run_id}")
        if response.status_code == 200 and response.json()["status"] == "running":
            found.append(response.json())
    return found


async def fault_scenario(
    topo: Topology,
    name: str,
    fault: Fault,
    size: Size,
    *,
    backlog_seconds: float = 2.0,
    after_minute: bool = False,
) -> probe.Figures:
    """Turn loops, followers and runs under ``fault``; the figures.

    Just before the fault, one more chat gets ``backlog_seconds`` worth of short turns queued at
    once: they start one after the other, so some start while the fault lasts.

    ``after_minute``: the runs start just after a minute boundary, so the fault lands 1–3 s after
    it: the worst moment for a sweep that runs once a minute (cron ``* * * * *``). Without it,
    whether a slow recovery shows up depends on where the fault lands.
    """
    figures = probe.Figures(name)
    ledger = probe.Ledger()
    monitor = probe.Monitor(topo, since=time.time() - 1)
    monitor.start()
    stop = asyncio.Event()
    loops: list[asyncio.Task[None]] = []
    followers: list[probe.Follower] = []
    started = time.monotonic()
    ended_before = len(topo.ended)
    async with httpx.AsyncClient(
        headers=probe.headers(topo), timeout=probe.REQUEST_TIMEOUT_SECONDS
    ) as client:
        try:
            agents = ["steps" if i % 2 == 0 else "slow" for i in range(size.chats)]
            chats = [await probe.new_chat(client, topo, agent, web=i % 2) for i, agent in enumerate(agents)]
            probe_chat = await probe.new_chat(client, topo, "echo")
            followers = [probe.Follower(topo, chat, web=(i + 1) % 2) for i, chat in enumerate(chats)]
            for follower in followers:
                follower.start()
            await _wait(lambda: all(f.connected.is_set() for f in followers), 30, "the followers to connect")
            for i, (chat, agent) in enumerate(zip(chats, agents, strict=True)):
                text = "2+3*4" if agent == "steps" else SLOW_TURN
                loop = probe.turn_loop(
                    client, topo, ledger, chat, text, stop, web=i % 2, max_turns=size.max_turns
                )
                loops.append(asyncio.create_task(loop))

            def answered_in(chat: str, after: float) -> bool:
                return any(t.chat_id == chat and (t.answered_at or 0) > after for t in ledger.turns)

            await _wait(
                lambda: all(answered_in(c, started) for c in chats), 60, "a first answered turn per chat"
            )
            if after_minute:
                await asyncio.sleep((61.0 - time.time() % 60) % 60)  # the turn loops keep going meanwhile
            for _ in range(size.runs):
                await probe.start_run(client, topo, ledger, "slow", SLOW_RUN)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                if await _running_runs(client, topo, ledger):
                    break  # the fault lands mid-run
                await asyncio.sleep(0.1)

            backlog_chat = await probe.new_chat(client, topo, "slow")
            for _ in range(int(backlog_seconds / BACKLOG_TURN_SECONDS)):
                await probe.send_turn(client, topo, ledger, backlog_chat, BACKLOG_TURN, 0, wait=False)
            fault_end = await fault(topo, ledger, figures)
            deadline = fault_end + size.settle_seconds
            figures.recover_s = await probe.recovery(client, topo, ledger, probe_chat, fault_end, deadline)
            if figures.recover_s is not None:
                # Every loop gets a turn answered after the recovery before it stops.
                recovered = fault_end + figures.recover_s
                with contextlib.suppress(RuntimeError):
                    await _wait(
                        lambda: all(answered_in(c, recovered) for c in chats),
                        max(1.0, deadline - time.monotonic()),
                        "a turn per chat after the recovery",
                    )
            stop.set()
            # A turn still waiting is left to the checks: its message is in the ledger already.
            await asyncio.wait(loops, timeout=LOOP_STOP_SECONDS)
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, *ledger.background, return_exceptions=True)
            # Turns sent just before the deadline get a little time of their own.
            settled = await monitor.settled(max(deadline, time.monotonic() + LOOP_STOP_SECONDS))
            figures.settle_s = None if settled is None else round(settled - fault_end, 1)
            figures.stuck = monitor.stuck()
            figures.longest_wrong_s = round(monitor.longest_wrong, 1)
            if monitor.active:
                figures.notes.append("active at the deadline: " + monitor.describe_active())
            await probe.check_turns(client, topo, ledger, figures)
            followed = time.monotonic() + FOLLOWER_CATCH_UP_SECONDS
            for follower in followers:
                await probe.check_follower(client, follower, figures, followed)
            reconnects = sum(f.reconnects for f in followers)
            if reconnects:
                figures.notes.append(f"followers reconnected {reconnects}x")
            topo.note_dead_workers()
            by_themselves = list(topo.ended[ended_before:])
            for name in ledger.killed:
                with contextlib.suppress(ValueError):
                    by_themselves.remove(name)
            if by_themselves:
                figures.notes.append("EXITED by themselves: " + ", ".join(by_themselves))
        finally:
            stop.set()
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, *ledger.background, return_exceptions=True)
            for follower in followers:
                await follower.stop()
            await monitor.stop()
    figures.seconds = round(time.monotonic() - started, 1)
    return figures


def kill_worker(sig: int) -> Fault:
    """The fault: ``sig`` to the worker process running one of the runs (mid-run, mid-turn), then it
    is started again at once, as an orchestrator would.

    """

    async def fault(topo: Topology, ledger: probe.Ledger, figures: probe.Figures) -> float:
        async with httpx.AsyncClient(headers=probe.headers(topo)) as client:
            running = await _running_runs(client, topo, ledger)
        worker = None
        for run in running:
            with contextlib.suppress(Exception):
                from_db = await asyncio.to_thread(_job_of_run, topo, run["task_id"])
                worker = from_db and await asyncio.to_thread(topo.worker_of_job, from_db)
            if worker:
                break
        if worker is None:
            worker = topo.workers[0]
            figures.notes.append("no run was running when the worker was killed")
        worker.proc.send(sig)
        ledger.killed.append(worker.proc.name)
        killed_at = time.monotonic()

        async def restart() -> None:
            await _exited(worker.proc, sig, killed_at, figures)
            topo.note_dead_workers()
            worker.proc.start()
            await asyncio.to_thread(topo.register, worker)

        ledger.background.append(asyncio.create_task(restart()))
        return killed_at

    return fault


async def _exited(proc: Proc, sig: int, since: float, figures: probe.Figures) -> None:
    """Wait for a signalled process to exit; one still there after ``ORCHESTRATOR_STOP_SECONDS``
    is hung (a failure) and gets SIGKILL, as ``docker stop`` would do."""
    name = signal.Signals(sig).name
    if await asyncio.to_thread(proc.wait, ORCHESTRATOR_STOP_SECONDS):
        figures.notes.append(f"{proc.name} {name}, exited in {time.monotonic() - since:.1f} s")
        return
    figures.hung.append(proc.name)
    figures.notes.append(
        f"{proc.name} HUNG: still running {ORCHESTRATOR_STOP_SECONDS:g} s after {name}, killed -9"
    )
    proc.send(signal.SIGKILL)
    await asyncio.to_thread(proc.wait, 5)


def _job_of_run(topo: Topology, run_id: str) -> int | None:
    import psycopg

    with psycopg.connect(topo.dsn, connect_timeout=3) as conn:
        row = conn.execute("SELECT job_id FROM runs_run WHERE id = %s", [run_id]).fetchone()
    return row[0] if row else None


def kill_web(sig: int) -> Fault:
    """The fault: ``sig`` to the first web process while turns wait on it and followers read from it;
    then it is started again at once."""

    async def fault(topo: Topology, ledger: probe.Ledger, figures: probe.Figures) -> float:
        web = topo.webs[0]
        web.proc.send(sig)
        ledger.killed.append(web.proc.name)
        killed_at = time.monotonic()

        async def restart() -> None:
            await _exited(web.proc, sig, killed_at, figures)
            web.proc.start()

        ledger.background.append(asyncio.create_task(restart()))
        return killed_at

    return fault


def outage(service: str, seconds: float) -> Fault:
    """The fault: PostgreSQL or Redis stopped for ``seconds``, then started again (same port)."""

    async def fault(topo: Topology, ledger: probe.Ledger, figures: probe.Figures) -> float:
        target = topo.pg if service == "postgres" else topo.redis
        await asyncio.to_thread(target.stop)
        await asyncio.sleep(seconds)  # the outage itself: its length is the point
        await asyncio.to_thread(target.start)
        figures.notes.append(f"{service} down {seconds:g} s")
        return time.monotonic()

    return fault


async def ws_chats(topo: Topology, size: Size) -> probe.Figures:
    """N concurrent WebSocket chats x T turns on ``steps``; what each socket saw against ``/history``."""
    figures = probe.Figures(f"ws-chats x{size.ws_chats}", needs_recovery=False)
    monitor = probe.Monitor(topo, since=time.time() - 1)
    monitor.start()
    started = time.monotonic()
    go = asyncio.Event()
    connecting = asyncio.Semaphore(50)
    latencies: list[float] = []
    seen: dict[str, list[tuple[str, list[dict[str, Any]]]]] = {}  # chat -> [(message_id, frames)]
    failures: list[str] = []
    ready = [0]  # sockets open or failed

    async def chat(i: int) -> None:
        chat_id = f"rel-{uuid.uuid4().hex}"
        seen[chat_id] = []
        url = f"{topo.webs[i % len(topo.webs)].ws}/chat/{chat_id}?token={topo.token}&agent=steps"
        try:
            try:
                async with connecting:
                    ws = await websockets.connect(url, open_timeout=60, max_size=None)
            finally:
                ready[0] += 1
            async with ws:
                await go.wait()
                for t in range(size.ws_turns):
                    message_id = uuid.uuid4().hex
                    frames: list[dict[str, Any]] = []
                    seen[chat_id].append((message_id, frames))
                    sent = time.monotonic()
                    await ws.send(
                        json.dumps({"type": "client", "message": f"{i}+{t}", "message_id": message_id})
                    )
                    async with asyncio.timeout(60):
                        while True:
                            frame = json.loads(await ws.recv())
                            frames.append(frame)
                            if frame.get("type") == "message_end" and frame.get("message_id") == message_id:
                                break
                    latencies.append(time.monotonic() - sent)
        except (OSError, TimeoutError, websockets.exceptions.WebSocketException) as exc:
            failures.append(f"{type(exc).__name__}: {exc}"[:200])

    try:
        tasks = [asyncio.create_task(chat(i)) for i in range(size.ws_chats)]
        # All sockets open (or failed) before the first turn: N chats really are concurrent.
        await _wait(lambda: ready[0] == size.ws_chats, 120, "the sockets to open")
        turns_started = time.monotonic()
        go.set()
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - turns_started
        settled = await monitor.settled(time.monotonic() + 30)
        figures.settle_s = 0.0 if settled is not None else None
        figures.stuck = monitor.stuck()
        figures.longest_wrong_s = round(monitor.longest_wrong, 1)
        async with httpx.AsyncClient(
            headers=probe.headers(topo), timeout=probe.REQUEST_TIMEOUT_SECONDS
        ) as client:
            for chat_id, turns in seen.items():
                figures.sent += len(turns)
                _check_ws_chat(await _history(client, topo, chat_id), turns, figures)
            missing = size.ws_chats * size.ws_turns - figures.sent
            figures.sent += missing  # turns never sent because the socket failed: lost
            figures.lost += missing
        if latencies:
            ordered = sorted(latencies)
            p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)) - 1)]
            figures.notes.append(
                f"{len(latencies) / elapsed:.0f} turns/s, p50 {statistics.median(ordered) * 1000:.0f} ms,"
                f" p99 {p99 * 1000:.0f} ms"
            )
        if failures:
            figures.notes.append(f"{len(failures)} sockets failed, first: {failures[0]}")
    finally:
        await monitor.stop()
    figures.seconds = round(time.monotonic() - started, 1)
    return figures


async def _history(client: httpx.AsyncClient, topo: Topology, chat_id: str) -> list[dict[str, Any]]:
    response = await probe.get(client, topo, f"/history/{chat_id}")
    return [] if response.status_code == 404 else list(response.json())


def _check_ws_chat(
    history: list[dict[str, Any]], turns: list[tuple[str, list[dict[str, Any]]]], figures: probe.Figures
) -> None:
    """Compare one socket's frames, turn by turn, with the chat's ``/history``."""
    stored: list[list[tuple[str, str]]] = []
    for entry in history:
        if entry["role"] == "user":
            stored.append([])
        elif stored:
            stored[-1].append((entry["step_type"], entry["content"]))
    seqs = [f["seq"] for _, frames in turns for f in frames if isinstance(f.get("seq"), int)]
    figures.duplicated += len(seqs) - len(set(seqs))
    if len(stored) > len(turns):
        figures.duplicated += len(stored) - len(turns)
    for index, (_message_id, frames) in enumerate(turns):
        live = [(f["step_type"], f["message"]) for f in frames if f.get("type") == "agent_step"]
        kept = stored[index] if index < len(stored) else []
        if len(set(kept)) < len(kept) or len(set(live)) < len(live):
            figures.duplicated += 1
        elif kept == live and any(step == "FinalAnswerStep" for step, _ in kept):
            figures.answered += 1
        else:
            figures.lost += 1
            if len(figures.notes) < 3:
                figures.notes.append(f"turn {index}: socket saw {live}, /history has {kept}")


SCENARIOS: dict[str, Callable[[Topology, Size], Awaitable[probe.Figures]]] = {
    "worker-kill": lambda topo, size: fault_scenario(
        topo, "worker-kill", kill_worker(signal.SIGKILL), size, after_minute=size.align_kill
    ),
    "worker-term": lambda topo, size: fault_scenario(topo, "worker-term", kill_worker(signal.SIGTERM), size),
    "web-kill": lambda topo, size: fault_scenario(topo, "web-kill", kill_web(signal.SIGKILL), size),
    "web-term": lambda topo, size: fault_scenario(topo, "web-term", kill_web(signal.SIGTERM), size),
    "pg-outage": lambda topo, size: fault_scenario(
        topo,
        "pg-outage",
        outage("postgres", size.outage_seconds),
        size,
        backlog_seconds=size.outage_seconds + 2,
    ),
    "redis-outage": lambda topo, size: fault_scenario(
        topo,
        "redis-outage",
        outage("redis", size.outage_seconds),
        size,
        backlog_seconds=size.outage_seconds + 2,
    ),
    "ws-chats": ws_chats,
}
