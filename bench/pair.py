"""Paired A/B: this checkout against another commit, turn by turn, on the same machine at once.

    python bench/pair.py BASE [--figures rest,ws,sse] [--turns 300] [--server daphne] [--base-server uvicorn]
                              [--idempotency-key] [--rounds K] [--env|--base-env NAME=VALUE ...]

BASE is a git revision (checked out into a temporary worktree, removed at the end) or the path
of another checkout (``.`` with ``--base-server`` compares the two ASGI servers). Both servers run at the same time, each on a fresh database of its own (on
``DATABASE_URL``'s server, else in the embedded PostgreSQL) with its worker in-process, and the
bench's turn functions alternate between them — A then B, B then A — so both see the same
machine at the same moment. A 1–2 ms change shows through a machine whose speed wanders by
±20 % from minute to minute, which two separate ``bench/run.py`` runs cannot promise.
Prints p50 / p90 / mean of each figure for both and the difference, and each server process's
CPU per turn (steadier than latency: it does not wait on the machine's other work); writes the
latencies to ``bench/results/pair-<time>.json``. ``--idempotency-key``: each REST turn carries a
fresh ``Idempotency-Key`` (what a retrying client sends; a side without the feature ignores it).
``--env``/``--base-env NAME=VALUE`` (repeatable) set A's/B's settings: with BASE ``.``, the cost
of one feature alone, e.g. ``. --idempotency-key --base-env UAI_IDEMPOTENCY_ENABLED=false``.
``--rounds K`` (default 2) measures K times, each on new server processes started A first, then
B first: the server started first was slower by ~0.4 ms of CPU per REST turn with the same code
on both sides, a bias an even number of rounds cancels. Each round's A - B is shown, and their mean.
(The databases are fresh once per run: later rounds add turns to the same tables, on both sides.)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import psycopg.conninfo  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from bench import common, uai_figures  # noqa: E402
from bench.common import Proc  # noqa: E402

FIGURES = ("rest", "ws", "sse")
WARM_TURNS = 10
TURN_TIMEOUT_SECONDS = 30.0
SEND_IDEMPOTENCY_KEY = False  # --idempotency-key


def log(message: str) -> None:
    """Progress, on stderr (stdout is the table)."""
    print(message, file=sys.stderr, flush=True)


# --- the two sides ---------------------------------------------------------------------------------


@contextlib.contextmanager
def checkout(base: str) -> Iterator[Path]:
    """The base's source tree: a path as given, or a revision in a temporary git worktree."""
    path = Path(base)
    if (path / "manage.py").is_file():
        yield path.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="uai-pair-") as tmp:
        tree = Path(tmp) / "base"
        done = subprocess.run(
            ["git", "worktree", "add", "--detach", str(tree), base], cwd=ROOT, capture_output=True, text=True
        )
        if done.returncode:
            raise SystemExit(f"{base!r} is neither a checkout nor a revision: {done.stderr.strip()}")
        try:
            yield tree
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=ROOT, capture_output=True)


def fresh_database(name: str) -> uai_figures.Database:
    """A new, empty database called ``name`` where the bench would put its own (dropped first);
    with ``BENCH_DATABASE_URL``, named after that one (``<it>_pair_a``): benches of several
    checkouts on one server at once do not drop each other's."""
    database = uai_figures.bench_database(smoke=False)
    if os.environ.get("BENCH_DATABASE_URL"):
        name = f"{database.name}_{name.removeprefix('uai_')}"
    if database.embedded:
        database = uai_figures.Database(name, {**database.env, "UAI_DATABASE_NAME": name}, embedded=True)
    else:
        url = uai_figures._with_database(database.env["DATABASE_URL"], name)
        database = uai_figures.Database(name, {"DATABASE_URL": url}, embedded=False)
    database = uai_figures.create_database(database, side_env(database))
    server = psycopg.conninfo.make_conninfo(database.conninfo, dbname="postgres")
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    return database


def side_env(database: uai_figures.Database) -> dict[str, str]:
    """A side's environment: the bench's, without Redis (each server runs its own worker)."""
    env = uai_figures.uai_env(database, None)
    env["UAI_CHANNEL_PREFIX"] += "-" + database.name
    return env


class Side(uai_figures.Stack):
    """One side of the pair: ``manage.py serve`` from its own source tree, on its own database."""

    def __init__(
        self,
        label: str,
        root: Path,
        database: uai_figures.Database,
        server: str,
        settings: dict[str, str] | None = None,
    ) -> None:
        env = {**side_env(database), **(settings or {})}
        self.label, self.root = label, root
        _manage(root, env, "migrate", "--noinput", "-v0")  # each side with its own migrations
        token = _manage(root, env, "create_token", "bench").strip().splitlines()[-1]
        super().__init__(server=server, env=env, token=token, database=database)

    async def start(self) -> None:
        self.port = common.free_port()
        serve = [sys.executable, "manage.py", "serve", "--port", str(self.port), "--server", self.server]
        self.procs = [
            Proc(
                f"pair-{self.label}-{self.server}",
                serve,
                env=self.env,
                cwd=self.root,
                cores=common.server_cores(),
            )
        ]
        await common.wait_ready(self.port, "/healthz", self.procs)


def _manage(root: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=root, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} in {root} failed:\n{done.stderr[-3000:]}")
    return done.stdout


# --- one turn of each figure, on one side ----------------------------------------------------------

Turn = Callable[[int], Awaitable[float]]


async def rest_turns(side: Side, stack: contextlib.AsyncExitStack) -> Turn:
    connection = side.connection()
    stack.push_async_callback(connection.close)
    session = await uai_figures.new_chat(connection)

    async def turn(i: int) -> float:
        started = time.perf_counter()
        headers = {"Idempotency-Key": uuid.uuid4().hex} if SEND_IDEMPOTENCY_KEY else None
        await uai_figures.rest_turn(connection, session, f"hello {i}", headers)
        return time.perf_counter() - started

    return turn


async def ws_turns(side: Side, stack: contextlib.AsyncExitStack) -> Turn:
    ws = await stack.enter_async_context(connect(side.ws_url(uuid.uuid4().hex, "echo"), ping_interval=None))

    async def turn(i: int) -> float:
        steps = await uai_figures._ws_turn(ws, f"hello {i}", f"m-{uuid.uuid4().hex}")
        return steps[0][1]

    return turn


async def sse_turns(side: Side, stack: contextlib.AsyncExitStack) -> Turn:
    connection = side.connection()
    stack.push_async_callback(connection.close)
    body = {"agent": "echo", "conversation_id": uuid.uuid4().hex}

    async def turn(i: int) -> float:
        return (await uai_figures._sse_turn(connection, {**body, "message": f"hello {i}"}))[0]

    return turn


TURNS = {"rest": rest_turns, "ws": ws_turns, "sse": sse_turns}


async def paired(
    sides: list[Side], figure: str, turns: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """``turns`` turns on each side (after a warm-up), alternating which side goes first: the
    latencies, and each server process's CPU per measured turn in ms (steadier than latency)."""
    latencies: dict[str, list[float]] = {side.label: [] for side in sides}
    cpu: dict[str, float] = {}
    async with contextlib.AsyncExitStack() as stack:
        run = {side.label: await TURNS[figure](side, stack) for side in sides}
        for i in range(WARM_TURNS + turns):
            if i == WARM_TURNS:
                cpu = {side.label: -common.cpu_seconds(side.server_proc.pid) for side in sides}
            for label in list(run) if i % 2 else list(reversed(run)):
                seconds = await asyncio.wait_for(run[label](i), TURN_TIMEOUT_SECONDS)
                if i >= WARM_TURNS:
                    latencies[label].append(seconds * 1000)
        for side in sides:
            cpu[side.label] = round(
                (cpu[side.label] + common.cpu_seconds(side.server_proc.pid)) * 1000 / turns, 2
            )
    return latencies, cpu


def summary(values: list[float], cpu_ms: float) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "p50_ms": round(common.percentile(ordered, 0.5), 2),
        "p90_ms": round(common.percentile(ordered, 0.9), 2),
        "mean_ms": round(statistics.mean(ordered), 2),
        "cpu_ms_per_turn": cpu_ms,
    }


def render(results: dict[str, Any]) -> str:
    meta = results["meta"]
    a, b = meta["a"] + _with(meta.get("env")), meta["b"] + _with(meta.get("base_env"))
    rounds = meta.get("rounds", 1)
    lines = [
        f"A = {a} under {meta['server']}, B = {b} under {meta['base_server']};"
        f" {meta['turns']} turns each, alternated" + (f", in {rounds} rounds" if rounds > 1 else ""),
        "",
        f"{'figure':<28}{'A p50 / p90 / mean ms':>26}{'B p50 / p90 / mean ms':>26}{'A - B p50':>12}"
        f"{'CPU/turn A / B ms':>20}{'A - B':>8}",
    ]
    names = {"rest": "REST echo turn", "ws": "WebSocket first agent_step", "sse": "SSE first chunk"}
    for figure, sides in results["figures"].items():
        x, y = sides["A"], sides["B"]
        cells = [f"{s['p50_ms']:.2f} / {s['p90_ms']:.2f} / {s['mean_ms']:.2f}" for s in (x, y)]
        cpu = f"{x['cpu_ms_per_turn']:.2f} / {y['cpu_ms_per_turn']:.2f}"
        lines.append(
            f"{names[figure]:<28}{cells[0]:>26}{cells[1]:>26}{x['p50_ms'] - y['p50_ms']:>+12.2f}"
            f"{cpu:>20}{x['cpu_ms_per_turn'] - y['cpu_ms_per_turn']:>+8.2f}"
        )
        if rounds > 1:
            each = results["rounds"][figure]
            p50 = [r["A"]["p50_ms"] - r["B"]["p50_ms"] for r in each]
            cpu_each = [r["A"]["cpu_ms_per_turn"] - r["B"]["cpu_ms_per_turn"] for r in each]
            lines.append(
                f"{'  A - B by round':<28}p50 {' '.join(f'{d:+.2f}' for d in p50)}"
                f" (mean {statistics.mean(p50):+.2f}); CPU {' '.join(f'{d:+.2f}' for d in cpu_each)}"
                f" (mean {statistics.mean(cpu_each):+.2f})"
            )
    return "\n".join(lines)


def _with(settings: dict[str, str] | None) -> str:
    return " with " + " ".join(f"{k}={v}" for k, v in settings.items()) if settings else ""


def _describe(root: Path) -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True)
    return (done.stdout.strip() or str(root)) + (
        " (with uncommitted changes)" if dirty.stdout.strip() else ""
    )


async def measure(args: argparse.Namespace, base: Path) -> dict[str, Any]:
    sides = [
        Side("A", ROOT, fresh_database("uai_pair_a"), args.server, args.env),
        Side("B", base, fresh_database("uai_pair_b"), args.base_server or args.server, args.base_env),
    ]
    common.pin(0, common.client_cores())
    results: dict[str, Any] = {
        "meta": {
            "a": _describe(ROOT),
            "b": _describe(base),
            "turns": args.turns,
            "rounds": args.rounds,
            "server": args.server,
            "base_server": args.base_server or args.server,
            "idempotency_key": SEND_IDEMPOTENCY_KEY,
            "env": args.env,
            "base_env": args.base_env,
            "cpu_count": len(common.ALL_CORES),
            "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        },
        "figures": {},
        "rounds": {figure: [] for figure in args.figures},
        "latencies_ms": {figure: {side.label: [] for side in sides} for figure in args.figures},
    }
    cpu_total = {figure: {side.label: 0.0 for side in sides} for figure in args.figures}
    for number in range(args.rounds):
        # Each round on new server processes, started A first then B first in turn: the server
        # started first was ~0.4 ms of CPU per REST turn slower than the other, the same code on
        # both sides (measured here, both orders); an even number of rounds cancels that out.
        for side in sides if number % 2 == 0 else reversed(sides):
            await side.start()
        try:
            for figure in args.figures:
                latencies, cpu = await paired(sides, figure, args.turns)
                by_side = {label: summary(values, cpu[label]) for label, values in latencies.items()}
                results["rounds"][figure].append(by_side)
                for label, values in latencies.items():
                    results["latencies_ms"][figure][label] += values
                    cpu_total[figure][label] += cpu[label]
                log(f"  {figure} (round {number + 1} of {args.rounds}): {by_side}")
        finally:
            for side in sides:
                side.stop()
    for figure in args.figures:
        results["figures"][figure] = {
            label: summary(values, round(cpu_total[figure][label] / args.rounds, 2))
            for label, values in results["latencies_ms"][figure].items()
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="a git revision, or the path of another checkout")
    parser.add_argument("--figures", default=",".join(FIGURES), help="rest,ws,sse")
    parser.add_argument("--turns", type=int, default=300, help="measured turns per side and figure")
    parser.add_argument("--server", choices=("daphne", "uvicorn"), default="daphne")
    parser.add_argument(
        "--base-server", choices=("daphne", "uvicorn"), default=None, help="B's server if not --server's"
    )
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    parser.add_argument(
        "--idempotency-key", action="store_true", help="a fresh Idempotency-Key on each REST turn"
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="measure this many times, on new server processes started in turns (A first, B first…)",
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of A's server (repeatable)",
    )
    parser.add_argument(
        "--base-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting of B's server (repeatable): with BASE '.', what one feature costs",
    )
    args = parser.parse_args(argv)
    for option in ("env", "base_env"):
        if any("=" not in item for item in getattr(args, option)):
            parser.error(f"--{option.replace('_', '-')}: NAME=VALUE")
        setattr(args, option, dict(item.split("=", 1) for item in getattr(args, option)))
        if any(not name.strip() for name in getattr(args, option)):
            parser.error(f"--{option.replace('_', '-')}: NAME=VALUE with a name")
    if args.rounds < 1:
        parser.error("--rounds: at least 1")
    if args.rounds % 2:
        log(
            f"--rounds {args.rounds}: an odd number, so A started first once more than B: its figures carry that bias"
        )
    global SEND_IDEMPOTENCY_KEY  # (read by the REST turns of both sides)
    SEND_IDEMPOTENCY_KEY = args.idempotency_key
    if args.turns < 1:
        parser.error("--turns: at least 1")
    args.figures = [f.strip() for f in args.figures.split(",") if f.strip()]
    if not args.figures or set(args.figures) - set(FIGURES):
        parser.error(f"--figures: choose from {', '.join(FIGURES)}")
    with checkout(args.base) as base:
        try:
            results = asyncio.run(measure(args, base))
        finally:
            Proc.stop_all()
    path = common.write_results(results, args.json, "pair")
    print(render(results))
    print(f"\nresults in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
