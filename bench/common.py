"""What every part of the bench shares: the load generator, statistics and the processes it starts.

The load generator is a minimal HTTP/1.1 client over asyncio streams: one keep-alive connection
per simulated client, no pooling, no TLS, no redirects. It parses just what it needs (status,
headers, ``Content-Length`` or chunked bodies, read whole or as they arrive), so one core drives
several thousand requests a second — far more than the servers measured here answer, so the
server is always the bottleneck. UAI and the peers are measured with the same client.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
LOG_DIR = RESULTS_DIR / "logs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"  # this run's
HOST = "127.0.0.1"
REQUEST_TIMEOUT_SECONDS = 120.0  # one request or stream; a bench that hangs must fail, not wait forever
START_TIMEOUT_SECONDS = 120.0  # a server (or a peer's first start) becoming ready

# --- CPU placement ---------------------------------------------------------------------------------

ALL_CORES = sorted(os.sched_getaffinity(0))  # read before the bench pins itself


def server_cores() -> set[int]:
    """Cores for the servers under test: all but the last one (all of them on a single core)."""
    return set(ALL_CORES[:-1] or ALL_CORES)


def client_cores() -> set[int]:
    """The core of the load generator: the last one, away from the servers where there are two."""
    return set(ALL_CORES[-1:])


def pin(pid: int, cores: set[int]) -> None:
    """Keep a process on ``cores`` (threads and children it starts afterwards inherit it)."""
    with contextlib.suppress(OSError):
        os.sched_setaffinity(pid, cores)


def write_results(results: dict[str, Any], path: Path | None, kind: str) -> Path:
    """Write a run's results as JSON to ``path``, else to ``bench/results/<kind>-<time>.json``."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = path or RESULTS_DIR / f"{kind}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2) + "\n")
    return path


# --- statistics ------------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank percentile ``q`` (0–1) of ``values``."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def latency_summary(seconds: list[float]) -> dict[str, float]:
    """p50 and p99 in milliseconds."""
    return {
        "p50_ms": round(percentile(seconds, 0.50) * 1000, 3),
        "p99_ms": round(percentile(seconds, 0.99) * 1000, 3),
    }


def median_of(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """One result from several repeats: the median of every number, the first value of the rest."""
    merged: dict[str, Any] = {}
    for key, first in samples[0].items():
        values = [s[key] for s in samples if key in s]
        if isinstance(first, int | float) and not isinstance(first, bool):
            merged[key] = round(statistics.median(values), 3)
        else:
            merged[key] = first
    if len(samples) > 1:
        merged["repeats"] = len(samples)
    return merged


async def repeated(measure: Callable[[], Awaitable[dict[str, Any]]], repeat: int) -> dict[str, Any]:
    """Run ``measure`` ``repeat`` times; the median of each figure."""
    return median_of([await measure() for _ in range(max(1, repeat))])


# --- the HTTP/1.1 load generator -------------------------------------------------------------------


class HttpError(Exception):
    """A response the bench did not expect (its status and the start of its body)."""


@dataclass
class Response:
    """A whole HTTP response."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON."""
        return json.loads(self.body)

    def expect(self, *statuses: int) -> Response:
        """Itself, or HttpError when its status is not one of ``statuses``."""
        if self.status not in statuses:
            raise HttpError(f"HTTP {self.status}: {self.body[:300]!r}")
        return self


class Connection:
    """One keep-alive HTTP/1.1 connection to a loopback server."""

    def __init__(self, port: int, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.headers = headers or {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self._reader is None or self._writer is None or self._writer.is_closing():
            self._reader, self._writer = await asyncio.open_connection(HOST, self.port)
            sock = self._writer.get_extra_info("socket")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return self._reader, self._writer

    async def close(self) -> None:
        """Close the connection."""
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(OSError):
                await self._writer.wait_closed()
        self._reader = self._writer = None

    def _encode(self, method: str, path: str, body: Any, headers: dict[str, str] | None) -> bytes:
        payload = b"" if body is None else json.dumps(body).encode()
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        all_headers = {**self.headers, **(headers or {})}
        if body is not None:
            all_headers.setdefault("Content-Type", "application/json")
        if body is not None or method in ("POST", "PUT", "PATCH"):
            all_headers["Content-Length"] = str(len(payload))
        lines += [f"{name}: {value}" for name, value in all_headers.items()]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + payload

    async def _send(self, request: bytes) -> tuple[int, dict[str, str]]:
        """Send the request and read the response head; reconnect once if a kept-alive socket died."""
        reused = self._writer is not None
        for attempt in (1, 2):
            reader, writer = await self._open()
            try:
                writer.write(request)
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
                break
            except (ConnectionError, asyncio.IncompleteReadError):
                await self.close()
                if not reused or attempt == 2:
                    raise
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in header_lines:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        return int(status_line.split()[1]), headers

    async def _body(self, method: str, status: int, headers: dict[str, str]) -> AsyncIterator[bytes]:
        """The response body as it arrives; afterwards the connection is ready for the next request."""
        reader, _ = await self._open()
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            pass
        elif "chunked" in headers.get("transfer-encoding", "").lower():
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":
                        pass  # trailers
                    break
                chunk = await reader.readexactly(size + 2)
                yield chunk[:-2]
        elif "content-length" in headers:
            remaining = int(headers["content-length"])
            while remaining:
                chunk = await reader.read(min(remaining, 65536))
                if not chunk:
                    raise asyncio.IncompleteReadError(b"", remaining)
                remaining -= len(chunk)
                yield chunk
        else:  # the body ends when the server closes the connection
            while chunk := await reader.read(65536):
                yield chunk
            await self.close()
            return
        if headers.get("connection", "").lower() == "close":
            await self.close()

    async def request(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        """Send one request (``body`` as JSON) and read the whole response."""
        async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
            status, response_headers = await self._send(self._encode(method, path, body, headers))
            parts = [part async for part in self._body(method, status, response_headers)]
        return Response(status, response_headers, b"".join(parts))

    async def stream(
        self, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> AsyncIterator[bytes]:
        """Send one request and yield the response body as it arrives (a 2xx is expected)."""
        async with asyncio.timeout(REQUEST_TIMEOUT_SECONDS):
            status, response_headers = await self._send(self._encode(method, path, body, headers))
            if not 200 <= status < 300:
                rest = b"".join([part async for part in self._body(method, status, response_headers)])
                raise HttpError(f"HTTP {status}: {rest[:300]!r}")
            async for part in self._body(method, status, response_headers):
                yield part


async def sse_events(pieces: AsyncIterator[bytes]) -> AsyncIterator[tuple[str, str]]:
    """``(event, data)`` of each Server-Sent Event in a body (comments and keep-alives skipped)."""
    buffer = b""
    async for piece in pieces:
        buffer += piece.replace(b"\r\n", b"\n")
        while b"\n\n" in buffer:
            block, buffer = buffer.split(b"\n\n", 1)
            event, data = "message", []
            for line in block.decode().split("\n"):
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
            if data:
                yield event, "\n".join(data)


@dataclass
class Load:
    """What a closed-loop run measured: every operation's latency and the wall time of the run."""

    latencies: list[float]
    elapsed: float

    def summary(self) -> dict[str, float]:
        """p50, p99 (ms) and operations per second."""
        return {**latency_summary(self.latencies), "per_s": round(len(self.latencies) / self.elapsed, 1)}


async def closed_loop(
    operation: Callable[[int, int], Awaitable[None]], *, total: int, concurrency: int
) -> Load:
    """Run ``operation(client, i)`` ``total`` times from ``concurrency`` clients, each waiting for
    its previous operation before the next (a closed loop), and time every one.
    """
    latencies: list[float] = []
    counter = iter(range(total))

    async def client(index: int) -> None:
        for i in counter:
            started = time.perf_counter()
            await operation(index, i)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(concurrency)))
    return Load(latencies, time.perf_counter() - started)


async def client_ceiling(total: int, concurrency: int) -> float:
    """Requests/s this load generator drives against a trivial loopback server (its own limit)."""
    body = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: application/json\r\n\r\n{}"

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while await reader.readuntil(b"\r\n\r\n"):
                writer.write(body)
        writer.close()

    server = await asyncio.start_server(answer, HOST, 0)
    port = server.sockets[0].getsockname()[1]
    connections = [Connection(port) for _ in range(concurrency)]

    async def get(client: int, i: int) -> None:
        (await connections[client].request("GET", "/")).expect(200)

    try:
        load = await closed_loop(get, total=total, concurrency=concurrency)
    finally:
        for connection in connections:
            await connection.close()
        server.close()
        await server.wait_closed()
    return round(total / load.elapsed, 1)


# --- processes -------------------------------------------------------------------------------------


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def _own_rss_kib(pid: int) -> int:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def rss_kib(pid: int) -> int:
    """Resident memory of a process and all its descendants, in KiB (VmRSS from /proc)."""
    return sum(_own_rss_kib(p) for p in [pid, *_descendants(pid)])


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far (user + system, from /proc), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()  # after the command name, which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Proc:
    """A process the bench started, in a session of its own, with its output in a log file.

    Every Proc is remembered until it is stopped, so ``stop_all`` can end whatever is left (by
    the PIDs the bench started, never by name).
    """

    running: list[Proc] = []

    def __init__(
        self,
        name: str,
        args: list[str],
        *,
        env: dict[str, str],
        cwd: Path = ROOT,
        cores: set[int] | None = None,
    ) -> None:
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.log_path = LOG_DIR / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        if cores:
            pin(self.popen.pid, cores)
        Proc.running.append(self)

    @property
    def pid(self) -> int:
        """The process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.popen.poll() is None

    def output(self) -> str:
        """The end of its log."""
        return self.log_path.read_text(errors="replace")[-3000:]

    def rss_kib(self) -> int:
        """Its resident memory with its children's, in KiB."""
        return rss_kib(self.pid)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM its process group (it leads it), then SIGKILL after ``timeout``."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)
                self.popen.wait(5)
        self._log.close()
        if self in Proc.running:
            Proc.running.remove(self)

    @classmethod
    def stop_all(cls) -> None:
        """Stop every process the bench started and has not stopped yet."""
        for proc in reversed(list(cls.running)):
            proc.stop()


async def wait_ready(port: int, path: str, procs: list[Proc], timeout: float = START_TIMEOUT_SECONDS) -> None:
    """Wait until ``GET path`` answers 200; fail early with its log if a process exits."""
    deadline = time.monotonic() + timeout
    while True:
        connection = Connection(port)
        try:
            if (await connection.request("GET", path)).status == 200:
                return
        except (OSError, asyncio.IncompleteReadError, TimeoutError):
            pass
        finally:
            await connection.close()
        for proc in procs:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} exited early:\n{proc.output()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{procs[0].name} did not become ready:\n{procs[0].output()}")
        await asyncio.sleep(0.2)


async def settled_rss_kib(proc: Proc, *, seconds: float = 1.0) -> int:
    """The process's memory once it stopped moving (after ``seconds``, read twice, the larger)."""
    await asyncio.sleep(seconds)
    first = proc.rss_kib()
    await asyncio.sleep(0.5)
    return max(first, proc.rss_kib())
