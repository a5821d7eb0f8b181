"""``driftloop up``: the embedded broker and database, migrations, topics, one process per service.

The supervisor starts services in loop order, reports each one's health, restarts one
that dies (with backoff, and says so), and on SIGINT/SIGTERM stops them in reverse
order before stopping the broker and the database. A lock file keeps one stack per home;
the state file, rewritten atomically after each step, lets ``status`` find the stack and
lets the next ``up`` clean up after one that was killed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from rich.console import Console

from driftloop_store import migrate_url

from .admin import ensure_token
from .embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from .processes import ServiceProcess, healthy, identity, kill_if_same
from .topics import ensure_topics_sync

SERVICES = ("ingestion", "drift", "scheduler", "training", "evaluation", "serving")
STATE_FILE = "stack.json"
HEALTH_TIMEOUT = 180.0  # importing the ML libraries takes minutes on a loaded 2-core machine
STABLE_AFTER = 60.0  # a service up this long has its restart backoff forgotten


class Interrupted(Exception):
    """SIGINT/SIGTERM arrived while the stack was starting."""


class AlreadyRunning(Exception):
    """Another ``driftloop up`` holds this home's lock."""


class Stack:
    def __init__(
        self,
        home: Path,
        console: Console,
        training_replicas: int = 1,
        serving_port: int = 8000,
        restart: bool = True,
    ) -> None:
        self.home = home
        self.console = console
        self.training_replicas = training_replicas
        self.serving_port = serving_port
        self.restart = restart
        self.kafka: EmbeddedKafka | None = None
        self.postgres: EmbeddedPostgres | None = None
        self.bootstrap = ""
        self.services: list[ServiceProcess] = []
        self.admin_token = ""
        self.stopping = False

    def _check(self) -> None:
        if self.stopping:
            raise Interrupted

    # -- start ---------------------------------------------------------------------------------

    def start_infrastructure(self) -> str:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if bootstrap:
            self._line("kafka", f"external {bootstrap}")
        else:
            started = time.monotonic()
            self.kafka = EmbeddedKafka(log_path=self.home / "logs" / "kafka.log")
            bootstrap = self.kafka.start()
            self._line("kafka", f"embedded Tansu on {bootstrap} (memory only)", started)
        self.bootstrap = bootstrap
        self.save()
        self._check()
        database = os.environ.get("DATABASE_URL")
        if database:
            self._line("postgres", "external (DATABASE_URL)")
        else:
            started = time.monotonic()
            self.postgres = EmbeddedPostgres(data_dir=self.home / "pgdata")
            database = self.postgres.start()
            self._line("postgres", f"embedded, data in {self.home / 'pgdata'}", started)
        self.save()
        self._check()
        started = time.monotonic()
        applied = migrate_url(database)
        self._line(
            "migrations", f"applied {', '.join(applied)}" if applied else "up to date", started
        )
        self._check()
        started = time.monotonic()
        created = ensure_topics_sync(bootstrap)
        self._line("topics", f"created {len(created)}" if created else "all present", started)
        self.admin_token = self._admin_token()
        return database

    def _admin_token(self) -> str:
        """The serving admin API's token: the environment's, else this home's (made once)."""
        if token := os.environ.get("DRIFTLOOP_ADMIN_TOKEN"):
            self._line("admin token", "from DRIFTLOOP_ADMIN_TOKEN")
            return token
        path = ensure_token(self.home)
        # Where it is, never what it is: this output ends up in terminals and CI logs.
        self._line("admin token", f"in {path} (owner-only; the CLI reads it from there)")
        return path.read_text().strip()

    def start_services(self, database: str) -> None:
        self._check()
        names = [
            f"training-{i + 1}" if s == "training" and self.training_replicas > 1 else s
            for s in SERVICES
            for i in range(self.training_replicas if s == "training" else 1)
        ]
        base = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "DATABASE_URL": database,
            "PYTHONUNBUFFERED": "1",
        }
        base.pop("DRIFTLOOP_ADMIN_TOKEN", None)
        for name in names:
            port = self.serving_port if name == "serving" else free_port()
            env = {**base, "PORT": str(port), "HOST": "127.0.0.1"}
            if name == "serving":  # only the service with the admin API holds its token
                env["DRIFTLOOP_ADMIN_TOKEN"] = self.admin_token
            service = ServiceProcess(name, port, self.home / "logs" / f"{name}.log", env)
            self.services.append(service)
            service.start()
        self.save()
        while any(s.awaiting_health for s in self.services):
            self._check()
            self.check_health()
            time.sleep(0.2)

    # -- supervise -----------------------------------------------------------------------------

    def check_health(self) -> None:
        """Report each service that has come up, died, or not come up in time."""
        now = time.monotonic()
        for service in self.services:
            if (code := service.exit_code()) is not None:
                self._died(service, code, now)
            elif service.awaiting_health:
                if healthy(service.url, timeout=1.0)[0]:
                    service.awaiting_health = False
                    assert service.process is not None
                    self._line(
                        service.name,
                        f"pid {service.process.pid}  {service.url}  healthy",
                        service.started_at,
                    )
                elif now - service.started_at > HEALTH_TIMEOUT:
                    service.awaiting_health = False
                    self._line(
                        service.name,
                        f"[red]not healthy after {HEALTH_TIMEOUT:.0f}s[/] - see {service.log_path}",
                        ok=False,
                    )
            elif now - service.started_at > STABLE_AFTER:
                service.restarts = 0

    def _died(self, service: ServiceProcess, code: int, now: float) -> None:
        """Say so once; restart after a backoff that doubles per restart, up to 30 s."""
        if service.next_restart == 0.0:
            delay = min(30.0, 2.0**service.restarts)
            service.awaiting_health = False
            self._line(
                service.name,
                f"[red]died with code {code}[/]"
                + (f", restarting in {delay:.0f}s" if self.restart else "")
                + f" - see {service.log_path}",
                ok=False,
            )
            service.next_restart = now + delay
        if self.restart and now >= service.next_restart:
            service.restarts += 1
            service.next_restart = 0.0
            service.start()
            self.save()

    # -- stop ----------------------------------------------------------------------------------

    def stop(self) -> None:
        self.stopping = True
        for service in reversed(self.services):
            started = time.monotonic()
            code = service.stop()
            # uvicorn re-raises SIGTERM after its graceful shutdown, so -15 is a clean stop.
            clean = code in (0, -signal.SIGTERM)
            status = "stopped" if clean else f"stopped, exit code {code}"
            self._line(service.name, status, started, ok=clean)
        if self.kafka:
            self.kafka.stop()
            self._line("kafka", "stopped")
        if self.postgres:
            self.postgres.stop()
            self._line("postgres", "stopped")
        (self.home / STATE_FILE).unlink(missing_ok=True)

    # -- state ---------------------------------------------------------------------------------

    def save(self) -> None:
        """Write the state atomically: a reader never sees half a file."""
        kafka_pid = self.kafka.process.pid if self.kafka and self.kafka.process else None
        state = {
            "up": identity(os.getpid()),
            "kafka": {"bootstrap_servers": self.bootstrap, "process": identity(kafka_pid)},
            # An external URL may carry a password: only the embedded one is written down.
            "database": {"url": self.postgres.url if self.postgres else None},
            "services": [
                {
                    "name": s.name,
                    "url": s.url,
                    "log": str(s.log_path),
                    "pid": s.process.pid if s.process else None,
                    "process": identity(s.process.pid if s.process else None),
                }
                for s in self.services
            ],
        }
        path = self.home / STATE_FILE
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(state, indent=2))
        os.replace(temporary, path)

    def _line(self, name: str, text: str, started: float | None = None, ok: bool = True) -> None:
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        took = f" [dim]({time.monotonic() - started:.1f}s)[/]" if started is not None else ""
        self.console.print(f"{mark} {name:<12} {text}{took}", highlight=False)


@contextlib.contextmanager
def home_lock(home: Path) -> Iterator[IO[str]]:
    """Hold ``home``'s lock for the life of this process; the kernel drops it if we die."""
    home.mkdir(parents=True, exist_ok=True)
    with open(home / "up.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunning from None
        yield lock


def reap(home: Path, console: Console) -> None:
    """Kill what an earlier ``up`` that was itself killed left running: its broker, its services."""
    state = read_state(home)
    if state is None:
        return
    recorded = [state["kafka"].get("process")] + [s.get("process") for s in state["services"]]
    for process in recorded:
        if kill_if_same(process):
            assert process is not None
            console.print(f"[yellow]killed pid {process['pid']} left over from an earlier run[/]")
    (home / STATE_FILE).unlink(missing_ok=True)


def run_up(
    home: Path,
    console: Console,
    training_replicas: int = 1,
    serving_port: int = 8000,
    restart: bool = True,
) -> int:
    """Start everything, supervise until SIGINT/SIGTERM, stop everything. Returns the exit code."""
    stack = Stack(home, console, training_replicas, serving_port, restart)

    def request_stop(signum: int, _frame: object) -> None:
        # Flag first: a second signal can land while this handler is still printing.
        already, stack.stopping = stack.stopping, True
        if not already:
            console.print(f"\n{signal.Signals(signum).name}: stopping driftloop")

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    started = time.monotonic()
    try:
        with home_lock(home):
            reap(home, console)
            try:
                stack.start_services(stack.start_infrastructure())
                unhealthy = [s.name for s in stack.services if not healthy(s.url)[0]]
                if unhealthy:
                    console.print(f"[red]unhealthy: {', '.join(unhealthy)}[/]")
                else:
                    console.print(
                        f"[bold green]driftloop is up[/] in {time.monotonic() - started:.1f}s; "
                        "Ctrl-C stops it. `driftloop status` checks it."
                    )
                while not stack.stopping:
                    stack.check_health()
                    time.sleep(0.5)
            except Interrupted:
                console.print("[yellow]interrupted while starting[/]")
            except Exception as exc:
                console.print(f"[red]driftloop up failed: {exc}[/]")
                return 1
            finally:
                stack.stop()
    except AlreadyRunning:
        console.print(f"[red]driftloop is already running from {home}[/]")
        return 1
    return 0


def read_state(home: Path) -> dict[str, Any] | None:
    """The running stack's state, or None when there is none (or only a damaged file)."""
    try:
        state: dict[str, Any] = json.loads((home / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    return state
