"""``driftloop up``: the embedded broker and database, migrations, topics, one process per service.

The supervisor starts services in loop order, waits for each ``/health``, restarts one
that dies (with backoff, and says so), and on SIGINT/SIGTERM stops them in reverse
order before stopping the broker and the database.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console

from driftloop_store import migrate_url

from .embedded import EmbeddedKafka, EmbeddedPostgres, free_port
from .processes import ServiceProcess, healthy
from .topics import ensure_topics_sync

SERVICES = ("ingestion", "drift", "scheduler", "training", "evaluation", "serving")
STATE_FILE = "stack.json"


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
        self.services: list[ServiceProcess] = []
        self.stopping = False

    # -- start ---------------------------------------------------------------------------------

    def start_infrastructure(self) -> tuple[str, str]:
        (self.home / "logs").mkdir(parents=True, exist_ok=True)
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if bootstrap:
            self._line("kafka", f"external {bootstrap}")
        else:
            started = time.monotonic()
            self.kafka = EmbeddedKafka(log_path=self.home / "logs" / "kafka.log")
            bootstrap = self.kafka.start()
            self._line("kafka", f"embedded Tansu on {bootstrap} (memory only)", started)
        database = os.environ.get("DATABASE_URL")
        if database:
            self._line("postgres", "external (DATABASE_URL)")
        else:
            started = time.monotonic()
            self.postgres = EmbeddedPostgres(data_dir=self.home / "pgdata")
            database = self.postgres.start()
            self._line("postgres", f"embedded, data in {self.home / 'pgdata'}", started)
        started = time.monotonic()
        applied = migrate_url(database)
        self._line(
            "migrations", f"applied {', '.join(applied)}" if applied else "up to date", started
        )
        started = time.monotonic()
        created = ensure_topics_sync(bootstrap)
        self._line("topics", f"created {len(created)}" if created else "all present", started)
        return bootstrap, database

    def start_services(self, bootstrap: str, database: str) -> None:
        names = [
            f"training-{i + 1}" if s == "training" and self.training_replicas > 1 else s
            for s in SERVICES
            for i in range(self.training_replicas if s == "training" else 1)
        ]
        base = {
            **os.environ,
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "DATABASE_URL": database,
            "PYTHONUNBUFFERED": "1",
        }
        for name in names:
            port = self.serving_port if name == "serving" else free_port()
            env = {**base, "PORT": str(port), "HOST": "127.0.0.1"}
            service = ServiceProcess(name, port, self.home / "logs" / f"{name}.log", env)
            self.services.append(service)
            service.start()
        for service in self.services:
            self._await_healthy(service)
        self.write_state(bootstrap)

    def _await_healthy(self, service: ServiceProcess, timeout: float = 60.0) -> bool:
        started = time.monotonic()
        while time.monotonic() - started < timeout and not self.stopping:
            if (code := service.exit_code()) is not None:
                self._line(
                    service.name,
                    f"[red]exited with code {code}[/] - see {service.log_path}",
                    ok=False,
                )
                return False
            ok, _ = healthy(service.url, timeout=1.0)
            if ok:
                assert service.process is not None
                self._line(
                    service.name, f"pid {service.process.pid}  {service.url}  healthy", started
                )
                return True
            time.sleep(0.2)
        self._line(
            service.name,
            f"[red]not healthy after {timeout:.0f}s[/] - see {service.log_path}",
            ok=False,
        )
        return False

    def write_state(self, bootstrap: str) -> None:
        state = {
            "pid": os.getpid(),
            "kafka": {
                "bootstrap_servers": bootstrap,
                "embedded": self.kafka is not None,
                "pid": self.kafka.process.pid if self.kafka and self.kafka.process else None,
            },
            # An external URL may carry a password: only the embedded one is written down.
            "database": {
                "url": self.postgres.url if self.postgres else None,
                "embedded": self.postgres is not None,
            },
            "services": [
                {
                    "name": s.name,
                    "url": s.url,
                    "log": str(s.log_path),
                    "pid": s.process.pid if s.process else None,
                }
                for s in self.services
            ],
        }
        (self.home / STATE_FILE).write_text(json.dumps(state, indent=2))

    # -- supervise -----------------------------------------------------------------------------

    def supervise_once(self, bootstrap: str) -> None:
        """Report each service that died; restart it after a backoff that doubles, up to 30 s."""
        for service in self.services:
            code = service.exit_code()
            if code is None:
                continue
            now = time.monotonic()
            if service.next_restart == 0.0:
                delay = min(30.0, 2.0**service.restarts)
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
                self._await_healthy(service)
                self.write_state(bootstrap)

    # -- stop ----------------------------------------------------------------------------------

    def stop(self) -> None:
        self.stopping = True
        for service in reversed(self.services):
            started = time.monotonic()
            code = service.stop()
            # uvicorn re-raises SIGTERM after its graceful shutdown, so -15 is a clean stop.
            clean = code in (0, -signal.SIGTERM)
            self._line(
                service.name,
                "stopped" if clean else f"stopped, exit code {code}",
                started,
                ok=clean,
            )
        if self.kafka:
            self.kafka.stop()
            self._line("kafka", "stopped")
        if self.postgres:
            self.postgres.stop()
            self._line("postgres", "stopped")
        (self.home / STATE_FILE).unlink(missing_ok=True)

    def _line(self, name: str, text: str, started: float | None = None, ok: bool = True) -> None:
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        took = f" [dim]({time.monotonic() - started:.1f}s)[/]" if started is not None else ""
        self.console.print(f"{mark} {name:<12} {text}{took}", highlight=False)


def run_up(
    home: Path,
    console: Console,
    training_replicas: int = 1,
    serving_port: int = 8000,
    restart: bool = True,
) -> int:
    """Start everything, supervise until SIGINT/SIGTERM, stop everything. Returns the exit code."""
    if (previous := read_state(home)) is not None:
        if psutil.pid_exists(previous["pid"]):
            console.print(
                f"[red]driftloop is already running from {home} (pid {previous['pid']})[/]"
            )
            return 1
        _reap(previous, console)
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
        bootstrap, database = stack.start_infrastructure()
        stack.start_services(bootstrap, database)
        unhealthy = [s.name for s in stack.services if not healthy(s.url)[0]]
        if unhealthy:
            console.print(f"[red]unhealthy: {', '.join(unhealthy)}[/]")
        else:
            console.print(
                f"[bold green]driftloop is up[/] in {time.monotonic() - started:.1f}s; "
                "Ctrl-C stops it. `driftloop status` checks it."
            )
        while not stack.stopping:
            stack.supervise_once(bootstrap)
            time.sleep(0.5)
    except Exception as exc:
        console.print(f"[red]driftloop up failed: {exc}[/]")
        return 1
    finally:
        stack.stop()
    return 0


def _reap(state: dict[str, Any], console: Console) -> None:
    """Kill what a previous `up` that was itself killed left running (its broker, its services)."""
    pids = [s["pid"] for s in state["services"]] + [state["kafka"].get("pid")]
    for pid in filter(None, pids):
        with contextlib.suppress(psutil.Error):
            psutil.Process(pid).kill()
            console.print(f"[yellow]killed pid {pid} left over from an earlier run[/]")


def read_state(home: Path) -> dict[str, Any] | None:
    path = home / STATE_FILE
    if not path.exists():
        return None
    state: dict[str, Any] = json.loads(path.read_text())
    return state
