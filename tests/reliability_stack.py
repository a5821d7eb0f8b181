"""Harness of the reliability tests: every service as its own process under `driftloop up`'s
supervisor, on a broker of the test's own and a database of the test's own, and the faults.

The services run exactly as ``driftloop up`` runs them (``Stack.start_services``), and a
thread plays the supervisor's loop (``Stack.check_health``), so a SIGKILLed service is
restarted by the code that restarts it in production. The broker is private: a consumer
group starting from the oldest record must not read what other tests left, or the counts
would not be exact.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from driftloop.embedded import EmbeddedPostgres, embedded_kafka, free_port
from driftloop.processes import ServiceProcess, healthy
from driftloop.stack import Stack
from driftloop.topics import ensure_topics

ADMIN_TOKEN = "reliability-token"
# Environment of every service process: a killed training replica's partitions move on
# after 6 s instead of aiokafka's 10 s default (the least Apache Kafka accepts by default).
SERVICE_ENV = {
    "DRIFTLOOP_KAFKA_SESSION_TIMEOUT_MS": "6000",
    "DRIFTLOOP_KAFKA_HEARTBEAT_INTERVAL_MS": "1000",
    # One thread per model: OpenMP's thread per core starves the other services on 2 cores.
    "OMP_NUM_THREADS": "1",
}


@contextlib.asynccontextmanager
async def private_broker() -> AsyncIterator[str]:
    """A Tansu broker of this test's own, with every driftloop topic."""
    with embedded_kafka() as bootstrap:
        await ensure_topics(bootstrap)
        yield bootstrap


class Postgres:
    """A PostgreSQL cluster of the test's own (the pgserver wheel's binaries, not the
    machine's), stopped and started again on the same socket, so the services' URL holds."""

    def __init__(self) -> None:
        # In a directory of its own under /tmp, as the embedded default: PostgreSQL runs as
        # another user, and pytest makes its own temporary directories private to root.
        self._embedded = EmbeddedPostgres()

    def start(self) -> str:
        return self._embedded.start()

    def stop_server(self) -> None:
        """``pg_ctl stop`` (fast): every connection is cut, new ones are refused."""
        assert self._embedded.server is not None
        self._embedded.server.stop()

    def start_server(self) -> None:
        server = self._embedded.server
        assert server is not None
        with server._lock:  # as pgserver's own start holds it
            server.ensure_postgres_running()

    def close(self) -> None:
        self._embedded.stop()


@contextlib.contextmanager
def own_postgres() -> Iterator[tuple[Postgres, str]]:
    postgres = Postgres()
    try:
        yield postgres, postgres.start()
    finally:
        postgres.close()


@dataclass
class Fault:
    """One injected fault: what, when (monotonic seconds), and when it was over."""

    what: str
    at: float
    recovered_at: float | None = None

    @property
    def took(self) -> float:
        """Seconds from the fault until things were back; nan while they are not."""
        return float("nan") if self.recovered_at is None else self.recovered_at - self.at


class Supervised:
    """The six services as processes, restarted by the supervisor when they die."""

    def __init__(self, home: Path, bootstrap: str, database_url: str) -> None:
        self.stack = Stack(home, Console(file=None, width=200), serving_port=free_port())
        self.stack.bootstrap = bootstrap
        self.stack.admin_token = ADMIN_TOKEN
        self.database_url = database_url
        self.faults: list[Fault] = []
        self.seen: dict[str, set[int]] = {}
        """Every process id each service has had: one more than its restarts."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._supervise, daemon=True)

    @property
    def serving_url(self) -> str:
        return self.service("serving").url

    def service(self, name: str) -> ServiceProcess:
        return next(s for s in self.stack.services if s.name == name)

    def pids(self) -> dict[str, int]:
        return {s.name: s.process.pid for s in self.stack.services if s.process is not None}

    def start(self) -> None:
        (self.stack.home / "logs").mkdir(parents=True, exist_ok=True)
        saved = {key: os.environ.get(key) for key in SERVICE_ENV}
        os.environ.update(SERVICE_ENV)  # the stack hands its own environment to the services
        try:
            self.stack.start_services(self.database_url)
        finally:
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
        self.wait_healthy(timeout=180)
        self._thread.start()

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while unhealthy := [s.name for s in self.stack.services if not healthy(s.url, 1.0)[0]]:
            if time.monotonic() > deadline:
                raise AssertionError(f"not healthy after {timeout}s: {unhealthy}; {self.logs()}")
            self.stack.check_health()
            time.sleep(0.5)

    def kill(self, name: str) -> Fault:
        """SIGKILL the service now; the supervisor restarts it."""
        service = self.service(name)
        assert service.process is not None and service.process.poll() is None, f"{name} is down"
        fault = Fault(f"SIGKILL {name}", time.monotonic())
        os.kill(service.process.pid, signal.SIGKILL)
        self.faults.append(fault)
        return fault

    def wait_restarted(self, name: str, fault: Fault, timeout: float = 120) -> float:
        """Wait until a new process of ``name`` answers ``/health``; seconds since the kill."""
        deadline = time.monotonic() + timeout
        while True:
            service = self.service(name)
            alive = service.process is not None and service.process.poll() is None
            if alive and service.started_at > fault.at and healthy(service.url, 1.0)[0]:
                fault.recovered_at = time.monotonic()
                return fault.recovered_at - fault.at
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} not back {timeout}s after {fault.what}")
            time.sleep(0.2)

    def logs(self) -> str:
        """Where the services' logs are, for a failure's message."""
        return f"logs in {self.stack.home / 'logs'}"

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)
        self.stack.stop()

    def _supervise(self) -> None:
        while not self._stop.is_set():
            self.stack.check_health()
            for name, pid in self.pids().items():
                self.seen.setdefault(name, set()).add(pid)
            self._stop.wait(0.2)

    def restarts(self) -> dict[str, int]:
        """How often each service was restarted since the supervisor thread began."""
        return {name: len(pids) - 1 for name, pids in self.seen.items()}


@contextlib.contextmanager
def supervised(home: Path, bootstrap: str, database_url: str) -> Iterator[Supervised]:
    services = Supervised(home, bootstrap, database_url)
    try:
        services.start()
        yield services
    finally:
        services.stop()
