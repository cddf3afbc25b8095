"""UAI's benchmark: UAI's figures and the peers' (LangGraph dev, a2a-sdk), measured in one run.

    python bench/run.py [--smoke] [--only uai,langgraph,a2a] [--servers daphne,uvicorn] [--repeat N]

UAI runs as deployed: embedded mode with no DATABASE_URL (embedded PostgreSQL, worker in the
server process), distributed mode with DATABASE_URL and REDIS_URL (a worker process), on a
database of its own. Prints a table on stdout (progress goes to stderr) and writes everything
to a JSON file under bench/results/. Loopback only; every process it starts is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import datetime
import importlib.metadata
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `python bench/run.py` from anywhere: import bench and uai

from bench import common, floors, peers, uai_figures  # noqa: E402

SERVERS = ("daphne", "uvicorn")
TARGETS = ("uai", "floor", "langgraph", "a2a")
UAI_DISTRIBUTIONS = [
    "django",
    "djangorestframework",
    "channels",
    "channels-redis",
    "daphne",
    "uvicorn",
    "procrastinate",
    "psycopg",
    "websockets",
]


def log(message: str) -> None:
    """Progress, on stderr (stdout is the table)."""
    print(message, file=sys.stderr, flush=True)


def _csv(allowed: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(value: str) -> list[str]:
        items = [v.strip() for v in value.split(",") if v.strip()]
        unknown = set(items) - set(allowed)
        if unknown or not items:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(allowed)}")
        return items

    return parse


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny counts: check that every figure runs")
    parser.add_argument("--only", type=_csv(TARGETS), default=list(TARGETS), help="uai,floor,langgraph,a2a")
    parser.add_argument("--servers", type=_csv(SERVERS), default=list(SERVERS), help="daphne,uvicorn")
    parser.add_argument(
        "--repeat", type=int, default=None, help="runs per figure, median quoted (3; smoke 1)"
    )
    parser.add_argument("--json", type=Path, default=None, help="where to write the results")
    return parser.parse_args(argv)


# --- facts about the run ---------------------------------------------------------------------------


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "-"


def _git_commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return done.stdout.strip() or "-"


def _service_versions(database: uai_figures.Database, redis_url: str | None) -> dict[str, str]:
    import psycopg

    with psycopg.connect(database.conninfo) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    found = {"postgresql": row[0] if row else "-"}
    if redis_url:
        import redis

        found["redis"] = str(redis.Redis.from_url(redis_url).info("server")["redis_version"])
    return found


# --- the run ---------------------------------------------------------------------------------------


@dataclasses.dataclass
class UaiSetup:
    """What every UAI stack of the run shares: the bench database, the environment, the token."""

    database: uai_figures.Database
    env: dict[str, str]
    token: str


def setup_uai(args: argparse.Namespace, results: dict[str, Any]) -> UaiSetup:
    """Create and migrate the bench database, register the bench agents, make the bench user."""
    database = uai_figures.bench_database(smoke=args.smoke)
    redis_url = uai_figures.bench_redis_url()
    env = uai_figures.uai_env(database, redis_url)
    database = uai_figures.create_database(database, env)
    log(f"UAI: database {database.name} ({'embedded' if database.embedded else 'server'}), redis {redis_url}")
    token = uai_figures.prepare(env)
    results["meta"]["mode"] = "distributed" if redis_url else "embedded"
    results["meta"]["versions"].update(_service_versions(database, redis_url))
    return UaiSetup(database, env, token)


async def measure_uai(
    args: argparse.Namespace,
    setup: UaiSetup,
    counts: uai_figures.Counts,
    repeat: int,
    results: dict[str, Any],
) -> None:
    """Every UAI figure under each ASGI server (and the agent alone, in this process)."""
    results["agent_in_process"] = await uai_figures.agent_in_process(total=counts.agent_calls, repeat=repeat)
    log(f"  agent in-process: {results['agent_in_process']}")
    for server in args.servers:
        stack = uai_figures.Stack(server=server, env=setup.env, token=setup.token, database=setup.database)
        log(f"UAI under {server}")
        try:
            await stack.start()
            results["uai"][server] = await uai_figures.figures(stack, counts, repeat, log)
        finally:
            stack.stop()


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Everything asked for, into one results dict."""
    counts = uai_figures.SMOKE if args.smoke else uai_figures.FULL
    repeat = args.repeat or (1 if args.smoke else 3)
    results: dict[str, Any] = {
        "meta": {
            "started": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "smoke": args.smoke,
            "repeat": repeat,
            "counts": dataclasses.asdict(counts),
            "cpu_count": os.cpu_count(),
            "server_cores": sorted(common.server_cores()),
            "client_cores": sorted(common.client_cores()),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "uai_commit": _git_commit(),
            "logs": str(common.LOG_DIR),
            "versions": {"uai": _version("uai"), **{d: _version(d) for d in UAI_DISTRIBUTIONS}},
        },
        "uai": {},
        "floor": {},
        "peers": {},
    }
    # Set up before pinning this process: an embedded PostgreSQL it starts must not inherit the pin.
    setup = setup_uai(args, results) if {"uai", "floor"} & set(args.only) else None
    common.pin(0, common.client_cores())
    results["meta"]["load_generator_ceiling_per_s"] = await common.client_ceiling(
        total=200 if args.smoke else 5000, concurrency=32
    )
    log(f"load generator ceiling: {results['meta']['load_generator_ceiling_per_s']} requests/s")
    if setup is not None and "uai" in args.only:
        await measure_uai(args, setup, counts, repeat, results)
    if setup is not None and "floor" in args.only:
        log("the stack's floor")
        results["floor"] = await floors.floors(
            args.servers, setup.database, counts=counts, repeat=repeat, log=log
        )
    if "langgraph" in args.only:
        log("LangGraph dev")
        results["peers"]["langgraph"] = await peers.langgraph(counts, repeat, log)
    if "a2a" in args.only:
        log("a2a-sdk")
        results["peers"]["a2a"] = await peers.a2a(counts, repeat, log)
    return results


# --- targets ---------------------------------------------------------------------------------------


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each of the issue's targets for each server: the value, the limit, met or missed.

    A target against a peer that was not measured has no limit and is neither met nor missed.
    """
    counts = results["meta"]["counts"]
    lg, a2 = results["peers"].get("langgraph"), results["peers"].get("a2a")
    checks: list[tuple[str, Callable[[dict[str, Any]], float], str, float | None]] = [
        ("REST echo turn c=1: p50 <= 15 ms", lambda f: f["rest_c1"]["p50_ms"], "<=", 15),
        (
            "REST echo turn c=1: p50 <= 1/50 of LangGraph dev's",
            lambda f: f["rest_c1"]["p50_ms"],
            "<=",
            lg and lg["rest_c1"]["p50_ms"] / 50,
        ),
        (
            "REST echo turns/s c=32: >= 4x LangGraph dev (10 jobs)",
            lambda f: f["rest_c32"]["per_s"],
            ">=",
            lg and 4 * lg["rest_c32"]["per_s"],
        ),
        (
            "REST echo turns/s c=32: >= 0.5x the a2a-sdk server",
            lambda f: f["rest_c32"]["per_s"],
            ">=",
            a2 and 0.5 * a2["rest_c32"]["per_s"],
        ),
        ("WebSocket first agent_step c=1: p50 <= 10 ms", lambda f: f["ws_first_step"]["p50_ms"], "<=", 10),
        ("SSE first chunk c=1: p50 <= 10 ms", lambda f: f["sse_first_chunk"]["p50_ms"], "<=", 10),
        (
            "OpenAI chat completion turn: <= 1 ms p50 over the REST turn",
            lambda f: f["openai_facade"]["turn_extra_ms"],
            "<=",
            1,
        ),
        (
            "OpenAI streamed first delta: <= 1 ms p50 over the SSE first chunk",
            lambda f: f["openai_facade"]["first_extra_ms"],
            "<=",
            1,
        ),
        ("queue latency POST->running: p50 <= 10 ms", lambda f: f["queue_latency"]["p50_ms"], "<=", 10),
        ("queue latency POST->running: p99 <= 30 ms", lambda f: f["queue_latency"]["p99_ms"], "<=", 30),
        ("no-op runs/s, 1 worker: >= 150", lambda f: f["runs_1_worker"]["per_s"], ">=", 150),
        (
            f"newest 50 messages of a {counts['big_chat']:,}-message chat: p50 <= 10 ms",
            lambda f: f["history_big"]["newest_page"]["p50_ms"],
            "<=",
            10,
        ),
        (
            f"turn at {counts['mid_chat']:,} messages <= 1.2x empty chat (ratio of p50s)",
            lambda f: f["turn_long_chat"]["ratio"],
            "<=",
            1.2,
        ),
        ("idle WebSocket: <= 40 KiB each", lambda f: f["ws_idle"]["kib_per_connection"], "<=", 40),
        (
            f"idle WebSockets: {counts['idle_ws']:,} held by one process",
            lambda f: f["ws_idle"]["held"],
            ">=",
            counts["idle_ws"],
        ),
        ("server RSS idle: <= 150 MiB", lambda f: f["memory"]["idle_mib"], "<=", 150),
        (
            f"server RSS growth over {counts['memory_turns']:,} turns: <= 10 MiB",
            lambda f: f["memory"]["growth_mib"],
            "<=",
            10,
        ),
    ]
    bounds = results.get("floor", {}).get("turns_per_s_bound", {})
    out = []
    for server, figures in results["uai"].items():
        for label, value_of, op, limit in checks:
            value = value_of(figures)
            met = None if limit is None else (value <= limit if op == "<=" else value >= limit)
            check = {"target": label, "server": server, "value": value, "limit": limit, "met": met}
            if label.startswith("REST echo turns/s c=32") and server in bounds and limit:
                # The CPU a turn may cost on the saturated server core to reach the limit, what
                # the stack's floor takes of it, and what UAI's turn costs now.
                check["cpu_ms_per_turn"] = {
                    "budget": round(1000 / limit, 2),
                    "floor": round(1000 / bounds[server], 2),
                    "uai": figures["rest_c32"].get("cpu_ms_per_turn"),
                }
            out.append(check)
    return out


# --- the table -------------------------------------------------------------------------------------


def _lat(figure: dict[str, Any] | None) -> str:
    if not figure:
        return ""
    digits = 3 if figure["p50_ms"] < 1 else 1
    return f"{figure['p50_ms']:.{digits}f} / {figure['p99_ms']:.{digits}f}"


def _num(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:,.{digits}f}"


def _ratio(ours: float, theirs: float | None) -> str:
    if not theirs:
        return ""
    ratio = ours / theirs
    return f"1/{1 / ratio:,.0f}" if ratio < 0.1 else f"{ratio:,.2f}x"


def table_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The header and the rows of the figures table: one column per UAI server and per peer."""
    servers = list(results["uai"])
    lg, a2 = results["peers"].get("langgraph"), results["peers"].get("a2a")
    header = ["#", "figure", *(f"UAI {s}" for s in servers)]
    header += (["LangGraph dev"] if lg else []) + (["a2a-sdk"] if a2 else [])
    counts = results["meta"]["counts"]
    agent = results.get("agent_in_process")

    def row(
        number: str, label: str, uai: Callable[[dict[str, Any]], str], lg_text: str = "", a2_text: str = ""
    ) -> list[str]:
        cells = [number, label, *(uai(results["uai"][s]) for s in servers)]
        return cells + ([lg_text] if lg else []) + ([a2_text] if a2 else [])

    def peer(peer_results: dict[str, Any] | None, key: str, text: Callable[[Any], str]) -> str:
        return text(peer_results[key]) if peer_results and key in peer_results else ""

    rows = [
        row(
            "1",
            "REST echo turn c=1, p50 / p99 ms",
            lambda f: _lat(f["rest_c1"]),
            peer(lg, "rest_c1", _lat),
            peer(a2, "rest_c1", _lat),
        ),
        row(
            "1",
            "REST echo turn c=32, p50 / p99 ms",
            lambda f: _lat(f["rest_c32"]),
            peer(lg, "rest_c32", _lat),
            peer(a2, "rest_c32", _lat),
        ),
        row(
            "1",
            "REST echo turns/s c=32",
            lambda f: _num(f["rest_c32"]["per_s"]),
            peer(lg, "rest_c32", lambda x: _num(x["per_s"])),
            peer(a2, "rest_c32", lambda x: _num(x["per_s"])),
        ),
        row(
            "1",
            "UAI's CPU per turn c=32 (server + worker processes), ms",
            lambda f: _num(f["rest_c32"].get("cpu_ms_per_turn"), 2),
        ),
        row("1", "echo agent in-process (adapter), p50 / p99 ms", lambda f: _lat(agent) if agent else ""),
        row(
            "1",
            "UAI's overhead per turn c=1 (p50 - agent), ms",
            lambda f: _num(f["rest_c1"]["p50_ms"] - agent["p50_ms"]) if agent else "",
        ),
        row("2", "WebSocket client -> first agent_step, p50 / p99 ms", lambda f: _lat(f["ws_first_step"])),
        row(
            "2",
            f"WebSocket agent_step frames/s ({counts['ws_steps']} steps)",
            lambda f: _num(f["ws_steps"]["per_s"]),
        ),
        row(
            "2",
            "idle WebSockets held / opened",
            lambda f: f"{f['ws_idle']['held']:,} / {f['ws_idle']['opened']:,}",
        ),
        row("2", "memory per idle WebSocket, KiB", lambda f: _num(f["ws_idle"]["kib_per_connection"])),
        row(
            "2",
            "WebSocket first agent_step with the idle ones held, p50 / p99 ms",
            lambda f: _lat(f["ws_idle"].get("first_step_while_held")),
        ),
        row(
            "3",
            "SSE first chunk, p50 / p99 ms (LangGraph: runs/stream)",
            lambda f: _lat(f["sse_first_chunk"]),
            peer(lg, "stream_first_event", _lat),
        ),
        row(
            "3",
            "OpenAI /v1: completion turn / REST turn, p50 ms (paired)",
            lambda f: (
                f"{_num(f['openai_facade']['completion_turn_p50_ms'])} / {_num(f['openai_facade']['rest_turn_p50_ms'])}"
            ),
        ),
        row(
            "3",
            "OpenAI /v1: streamed first delta / SSE first chunk, p50 ms (paired)",
            lambda f: (
                f"{_num(f['openai_facade']['completion_first_delta_p50_ms'])} / "
                f"{_num(f['openai_facade']['sse_first_chunk_p50_ms'])}"
            ),
        ),
        row(
            "3",
            f"SSE text deltas/s ({counts['sse_deltas']} deltas)",
            lambda f: _num(f["sse_stream"]["deltas_per_s"]),
        ),
        row(
            "3",
            "SSE chunks/s (deltas coalesced every 50 ms)",
            lambda f: _num(f["sse_stream"]["chunks_per_s"]),
        ),
        row("4", "queue latency POST /run/ -> running, p50 / p99 ms", lambda f: _lat(f["queue_latency"])),
        row("4", "no-op runs/s, 1 worker process", lambda f: _num(f["runs_1_worker"]["per_s"])),
        row("4", "no-op runs/s, 2 worker processes", lambda f: _num(f["runs_2_workers"]["per_s"])),
        row(
            "5",
            f"newest 50 messages, {counts['small_chat']:,}-message chat, p50 / p99 ms",
            lambda f: _lat(f["history_small"]["newest_page"]),
        ),
        row(
            "5",
            f"newest 50 messages, {counts['big_chat']:,}-message chat, p50 / p99 ms",
            lambda f: _lat(f["history_big"]["newest_page"]),
        ),
        row(
            "5",
            f"chatData?afterTimestamp= (last 50), {counts['small_chat']:,} messages, p50 / p99 ms",
            lambda f: _lat(f["history_small"]["chat_data_after"]),
        ),
        row(
            "5",
            f"chatData?afterTimestamp= (last 50), {counts['big_chat']:,} messages, p50 / p99 ms",
            lambda f: _lat(f["history_big"]["chat_data_after"]),
        ),
        row(
            "5",
            f"turn p50 ms: {counts['mid_chat']:,}-message chat / empty chat (ratio)",
            lambda f: (
                f"{f['turn_long_chat']['long_p50_ms']:.1f} / {f['turn_long_chat']['empty_p50_ms']:.1f} "
                f"({f['turn_long_chat']['ratio']:.2f})"
            ),
        ),
        row(
            "1",
            "A2A SendMessage (JSON-RPC) echo c=1, p50 / p99 ms (a2a-sdk: its own server)",
            lambda f: _lat(f["a2a_route"]["c1"]),
            "",
            peer(a2, "rest_c1", _lat),
        ),
        row(
            "1",
            "A2A SendMessage (JSON-RPC) echo turns/s c=32",
            lambda f: _num(f["a2a_route"]["c32"]["per_s"]),
            "",
            peer(a2, "rest_c32", lambda x: _num(x["per_s"])),
        ),
        row(
            "1",
            "LangGraph runs/wait echo c=1, p50 / p99 ms (LangGraph dev: its own server)",
            lambda f: _lat(f["langgraph_route"]["c1"]),
            peer(lg, "rest_c1", _lat),
        ),
        row(
            "1",
            "LangGraph runs/wait echo turns/s c=32",
            lambda f: _num(f["langgraph_route"]["c32"]["per_s"]),
            peer(lg, "rest_c32", lambda x: _num(x["per_s"])),
        ),
        row(
            "6",
            "server RSS idle, MiB",
            lambda f: _num(f["memory"]["idle_mib"]),
            peer(lg, "rss_idle_mib", _num),
            peer(a2, "rss_idle_mib", _num),
        ),
        row(
            "6",
            f"server RSS after {counts['memory_turns']:,} turns (growth), MiB",
            lambda f: f"{f['memory']['after_mib']:.1f} (+{f['memory']['growth_mib']:.1f})",
        ),
    ]
    if lg:
        rows.append(
            row(
                "7",
                "REST c=1 p50: UAI / LangGraph dev",
                lambda f: _ratio(f["rest_c1"]["p50_ms"], lg["rest_c1"]["p50_ms"]),
            )
        )
        rows.append(
            row(
                "7",
                "turns/s c=32: UAI / LangGraph dev",
                lambda f: _ratio(f["rest_c32"]["per_s"], lg["rest_c32"]["per_s"]),
            )
        )
        rows.append(
            row(
                "7",
                "LangGraph runs/wait c=1 p50: UAI's /langgraph / LangGraph dev",
                lambda f: _ratio(f["langgraph_route"]["c1"]["p50_ms"], lg["rest_c1"]["p50_ms"]),
            )
        )
        rows.append(
            row(
                "7",
                "LangGraph runs/wait turns/s c=32: UAI's /langgraph / LangGraph dev",
                lambda f: _ratio(f["langgraph_route"]["c32"]["per_s"], lg["rest_c32"]["per_s"]),
            )
        )
    if a2:
        rows.append(
            row(
                "7",
                "turns/s c=32: UAI / a2a-sdk",
                lambda f: _ratio(f["rest_c32"]["per_s"], a2["rest_c32"]["per_s"]),
            )
        )
        rows.append(
            row(
                "7",
                "A2A SendMessage turns/s c=32: UAI's /a2a / a2a-sdk",
                lambda f: _ratio(f["a2a_route"]["c32"]["per_s"], a2["rest_c32"]["per_s"]),
            )
        )
    return header, [r for r in rows if any(r[2:])]


def _cpu_budget(check: dict[str, Any]) -> str:
    cpu = check.get("cpu_ms_per_turn")
    if not cpu:
        return ""
    uai = "" if cpu["uai"] is None else f", UAI {cpu['uai']:.2f}"
    return f"; CPU ms/turn: budget {cpu['budget']:.2f}, floor {cpu['floor']:.2f}{uai}"


def floor_rows(results: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The header and rows of the stack's floor (bench/floors.py), one column per ASGI server."""
    floor = results["floor"]
    servers = list(floor["request"])
    queue = floor["queue"]

    def lat(prefix: str, figures: dict[str, Any]) -> str:
        return _lat({"p50_ms": figures[f"{prefix}p50_ms"], "p99_ms": figures[f"{prefix}p99_ms"]})

    def row(label: str, text: Callable[[str], str]) -> list[str]:
        return [label, *(text(server) for server in servers)]

    rows = [
        row("bare DRF request storing one row, c=1 p50 / p99 ms", lambda s: lat("c1_", floor["request"][s])),
        row(
            "bare DRF requests/s c=32 (server CPU per request, ms)",
            lambda s: (
                f"{_num(floor['request'][s]['c32_per_s'])} ({floor['request'][s]['cpu_ms_per_request']:.2f})"
            ),
        ),
        row(
            "procrastinate alone: defer -> task start, p50 / p99 ms", lambda s: lat("defer_to_start_", queue)
        ),
        row(
            f"procrastinate alone: no-op jobs/s, {floor['slots']} slots (CPU per job, ms)",
            lambda s: f"{_num(queue['jobs_per_s'])} ({queue['cpu_ms_per_job']:.2f})",
        ),
        row(
            "turns/s c=32 no turn can pass: 1000 / (request + job CPU)",
            lambda s: _num(floor["turns_per_s_bound"][s]),
        ),
    ]
    return ["the stack's floor (bench/floors.py)", *(f"floor {s}" for s in servers)], rows


def _render(header: list[str], rows: list[list[str]], *, left: int) -> str:
    """Columns padded to their widest cell; the first ``left`` aligned left, the rest right."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if i < left else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(line, widths, strict=True))
        )
        for line in [header, *rows]
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render(results: dict[str, Any]) -> str:
    """The whole report: facts, figures, targets."""
    meta = results["meta"]
    versions = meta["versions"]
    out = [
        f"UAI {versions['uai']} ({meta['uai_commit']}), {meta.get('mode', '-')} mode; {meta['cpu_count']} cores "
        f"(servers on {meta['server_cores']}, load generator on {meta['client_cores']}); Python {meta['python']}; "
        f"PostgreSQL {versions.get('postgresql', '-')}"
        + (f", Redis {versions['redis']}" if "redis" in versions else ""),
        f"median of {meta['repeat']} run(s) per figure; load generator ceiling "
        f"{meta['load_generator_ceiling_per_s']:,.0f} requests/s; {'SMOKE counts' if meta['smoke'] else 'full counts'}",
    ]
    for name, peer in results["peers"].items():
        out.append(f"{name}: " + ", ".join(f"{k} {v}" for k, v in peer["versions"].items()))
    if results["uai"] or results["peers"]:
        out += ["", _render(*table_rows(results), left=2)]
    if results.get("floor"):
        out += ["", _render(*floor_rows(results), left=1)]
    checks = results.get("targets", [])
    if checks:
        servers = list(results["uai"])
        header = ["target", *servers]
        rows = []
        for label in dict.fromkeys(t["target"] for t in checks):
            cells = [label]
            for server in servers:
                t = next(t for t in checks if t["target"] == label and t["server"] == server)
                verdict = "n/a" if t["met"] is None else ("met" if t["met"] else "MISSED")
                limit = "" if t["limit"] is None else f" (limit {t['limit']:,.4g})"
                cells.append(f"{t['value']:,.4g}{limit} {verdict}{_cpu_budget(t)}")
            rows.append(cells)
        out += ["", _render(header, rows, left=1)]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Measure, print the table, write the JSON."""
    args = parse_args(argv)
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # thousands of idle WebSockets
    started = time.monotonic()
    try:
        results = asyncio.run(measure(args))
    finally:
        common.Proc.stop_all()
    results["meta"]["duration_s"] = round(time.monotonic() - started, 1)
    results["targets"] = targets(results)
    path = common.write_results(results, args.json, "bench-smoke" if args.smoke else "bench")
    print(render(results))
    print(f"\n{results['meta']['duration_s']:.0f} s; results in {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
