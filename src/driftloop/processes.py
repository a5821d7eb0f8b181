"""One service as a child OS process, and the health probe the supervisor and status use."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
import psutil


@dataclass
class ServiceProcess:
    name: str
    port: int
    log_path: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    next_restart: float = 0.0
    started_at: float = 0.0
    awaiting_health: bool = False
    _log: IO[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def module(self) -> str:
        return f"driftloop_{self.name.split('-')[0]}"

    def start(self) -> None:
        if self._log:
            self._log.close()
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - open for the child's lifetime
        self.process = subprocess.Popen(
            [sys.executable, "-m", self.module],
            env=self.env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # our Ctrl-C stops them in order
        )
        self.started_at = time.monotonic()
        self.awaiting_health = True

    def exit_code(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self, timeout: float = 15.0) -> int | None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self._log:
            self._log.close()
        return self.exit_code()


def identity(pid: int | None) -> dict[str, Any] | None:
    """A pid and its start time: together they name one process, even after pid reuse."""
    if pid is None:
        return None
    try:
        return {"pid": pid, "created": psutil.Process(pid).create_time()}
    except psutil.Error:
        return None


def same_process(recorded: dict[str, Any] | None) -> psutil.Process | None:
    """The process ``identity`` recorded, if that very process still runs."""
    if not recorded:
        return None
    try:
        process = psutil.Process(recorded["pid"])
        if process.create_time() == recorded["created"] and process.status() != "zombie":
            return process
    except psutil.Error:
        pass
    return None


def kill_if_same(recorded: dict[str, Any] | None) -> bool:
    if (process := same_process(recorded)) is None:
        return False
    with contextlib.suppress(psutil.Error):
        process.kill()
    return True


def healthy(url: str, timeout: float = 2.0) -> tuple[bool, dict[str, Any]]:
    try:
        response = httpx.get(f"{url}/health", timeout=timeout)
        return response.status_code == 200, response.json()
    except (httpx.HTTPError, ValueError) as exc:
        return False, {"error": str(exc) or type(exc).__name__}
