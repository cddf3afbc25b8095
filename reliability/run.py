"""Run the reliability scenarios against a fresh distributed topology and print their figures.

    python -m reliability                       # every scenario, full size (a few minutes)
    python -m reliability --short               # every scenario, small (.ci/run)
    python -m reliability --only pg-outage,ws-chats --chats 500

Exits 1 if any scenario lost, duplicated or left stuck a turn or run, did not recover, or could not
be run; 0 otherwise. Every process it starts is stopped by PID before it exits (Ctrl-C too).
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import dataclasses
import signal
import sys
import time
import traceback
from types import FrameType

from reliability import probe, scenarios
from reliability.topology import Proc, Topology

COLUMNS = [
    "scenario",
    "sent",
    "refused",
    "answered",
    "lost",
    "dup",
    "stuck",
    "wrong s",
    "recover s",
    "settle s",
]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m reliability", description=__doc__.split("\n")[0])
    parser.add_argument("--short", action="store_true", help="small counts and deadlines (CI)")
    parser.add_argument(
        "--only", default="", help="comma-separated scenarios: " + ", ".join(scenarios.SCENARIOS)
    )
    parser.add_argument(
        "--chats", type=int, help="concurrent WebSocket chats of ws-chats (full 200, short 20)"
    )
    parser.add_argument("--outage", type=float, help="seconds PostgreSQL or Redis stays down (10)")
    parser.add_argument(
        "--any-time", action="store_true", help="kill -9 the worker at once, not just after a minute boundary"
    )
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs (kept on failure)")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()] or list(scenarios.SCENARIOS)
    unknown = [n for n in names if n not in scenarios.SCENARIOS]
    if unknown:
        parser.error(f"unknown scenarios {unknown}; known: {', '.join(scenarios.SCENARIOS)}")
    args.names = names
    return args


def row(figures: probe.Figures) -> list[str]:
    """One table row."""

    def seconds(value: float | None, missing: str) -> str:
        return missing if value is None else f"{value:.1f}"

    recover = seconds(figures.recover_s, "never") if figures.needs_recovery else "-"
    return [
        figures.scenario,
        str(figures.sent),
        str(figures.refused),
        str(figures.answered),
        str(figures.lost),
        str(figures.duplicated),
        str(figures.stuck),
        f"{figures.longest_wrong_s:.1f}",
        recover,
        seconds(figures.settle_s, "never"),
    ]


def render(cells: list[str]) -> str:
    """A row in fixed-width columns."""
    widths = [16, 6, 8, 9, 5, 4, 6, 8, 10, 9]
    return "  ".join(
        c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
    )


def _on_signal(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)  # unwinds through the finally that stops every process


async def main_async(args: argparse.Namespace) -> int:
    """Start the topology, run the scenarios, print the table; the exit status."""
    size = scenarios.SHORT if args.short else scenarios.FULL
    if args.chats:
        size = dataclasses.replace(size, ws_chats=args.chats)
    if args.any_time:
        size = dataclasses.replace(size, align_kill=False)
    if args.outage:
        size = dataclasses.replace(size, outage_seconds=args.outage)
    started = time.monotonic()
    topo = Topology(keep_logs=args.keep_logs)
    atexit.register(topo.close)
    results: list[probe.Figures] = []
    try:
        print(
            f"reliability: starting PostgreSQL, Redis, 2 web processes, 2 workers in {topo.base}", flush=True
        )
        await asyncio.to_thread(topo.start)
        print(
            f"reliability: ready in {time.monotonic() - started:.1f} s ({'short' if args.short else 'full'})\n"
        )
        print(render(COLUMNS), flush=True)
        for name in args.names:
            try:
                restarted = await asyncio.to_thread(topo.restore)
                figures = await scenarios.SCENARIOS[name](topo, size)
                if restarted:
                    figures.notes.insert(0, "restarted before it: " + ", ".join(restarted))
            except Exception as exc:  # a scenario that cannot run is a failure, and the next one runs
                figures = probe.Figures(name, error=f"{type(exc).__name__}: {exc}")
                traceback.print_exc()
            results.append(figures)
            print(render(row(figures)), flush=True)
    finally:
        failed = [f for f in results if not f.ok]
        if failed or len(results) < len(args.names):
            topo.keep_logs = True
        await asyncio.to_thread(topo.close)
    print("\nsummary:")
    for figures in results:
        verdict = "ok  " if figures.ok else "FAIL"
        details = "; ".join(([figures.error] if figures.error else []) + figures.notes)
        print(f"  {verdict} {figures.scenario} ({figures.seconds:.0f} s){': ' + details if details else ''}")
    failed = [f for f in results if not f.ok]
    print(
        f"\n{len(results) - len(failed)} of {len(results)} scenarios held"
        f" in {time.monotonic() - started:.0f} s"
        + (f"; logs kept in {topo.log_dir}" if topo.keep_logs else "")
    )
    return 1 if failed or len(results) < len(args.names) else 0


def main(argv: list[str] | None = None) -> int:
    """The command-line entry point."""
    args = parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _on_signal)
    try:
        return asyncio.run(main_async(args))
    except KeyboardInterrupt:
        print("\nreliability: interrupted; every process it started is stopped", file=sys.stderr)
        return 130
    finally:
        Proc.stop_all()  # whatever a failure left behind


if __name__ == "__main__":
    sys.exit(main())
