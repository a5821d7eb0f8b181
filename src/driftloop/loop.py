"""The loop driver: a drifting synthetic stream played in real time through the running
system, as production would play it.

Each record is published to ``driftloop.records`` without its label, scored at once by
serving's ``/predict``, and its true label is sent to ``/feedback`` ``label_delay``
seconds later. Records are due at the configured rate whatever the system is doing, so
every record is scored by the model serving at that moment (prequential): a slow
detector, experiment or swap shows up as records scored by a stale model, and a request
that fails or is late as a miss.

A stream that no model serves yet gets its first experiment from the driver, through the
admin API, once enough labels have been given: no drift can be seen without a model
whose errors to watch, and a schedule trigger would hold later drift-triggered
experiments back while its own ran (one experiment per stream at a time).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from driftloop_contracts import Record

from .synthetic import Change, records

PREDICT_TIMEOUT = 2.0  # seconds: a later answer is a miss, as for a caller that gave up
FEEDBACK_EVERY = 0.1  # seconds between batches of due labels
BOOTSTRAP_EVERY = 0.25  # seconds between looks at whether a first experiment is needed
# Seconds past its due time a label is still retried: serving may restart, but a label it
# never takes must not keep the driver running after the stream.
LABEL_PATIENCE = 30.0
MAX_LABELS = 1000  # per /feedback request: serving's default max_batch
ACTOR = "loop-driver"
UNFINISHED = ("pending", "running", "paused")


@dataclass(frozen=True, kw_only=True)
class LoopConfig:
    stream: str
    generator: str = "agrawal"
    count: int
    rate: float  # records per second, in real time
    label_delay: float  # seconds from a record to its label, given as feedback
    changes: tuple[Change, ...]
    concepts: tuple[int, ...] | None
    seed: int = 42


@dataclass(frozen=True)
class Tick:
    """One record as the loop served it: what the serving model said, and whether it was right."""

    index: int
    at: float  # seconds since the run started, when the record was sent
    prediction: Any
    label: Any
    correct: bool
    model_id: str | None
    model_version: int | None


class LoopDriver:
    """Plays ``config``'s stream through the system at ``bootstrap_servers`` and ``serving_url``.

    With ``admin_url`` and ``admin_token``, a stream no model serves gets its first
    experiment once ``warmup`` labels were given (again with more labels if it ends
    without a model).
    """

    def __init__(
        self,
        config: LoopConfig,
        *,
        bootstrap_servers: str,
        serving_url: str,
        admin_url: str | None = None,
        admin_token: str | None = None,
        warmup: int = 300,
        label_patience: float = LABEL_PATIENCE,
    ) -> None:
        if config.rate <= 0:
            raise ValueError("rate must be positive: the loop plays the stream in real time")
        self.config = config
        self.bootstrap_servers = bootstrap_servers
        self.serving_url = serving_url
        self.admin_url = admin_url
        self.admin_token = admin_token
        self.warmup = warmup
        self.label_patience = label_patience
        self.started: datetime | None = None  # wall clock at the first record
        self.sent = 0  # records published
        self.unpublished = 0  # of those, how many Kafka did not take
        self.labels_sent = 0
        self.labels_retried = 0  # labels whose request failed, sent again
        self.labels_given_up = 0  # labels still refused ``label_patience`` after their time
        self.failures: Counter[str] = Counter()  # why records were not scored
        self.requested: list[str] = []  # first experiments the driver asked for
        self.bootstrap_errors: list[str] = []  # why asking for one failed
        self.serving: tuple[str, int] | None = None  # the model of the latest answer
        self._labels: deque[tuple[float, str, Any]] = deque()  # (due, record id, label)
        self._clock = 0.0
        self._asked = 0.0  # monotonic time of the latest request
        self._published = asyncio.Event()

    async def run(self, on_tick: Callable[[Tick], None] | None = None) -> list[Tick]:
        """Play the whole stream; return its ticks in stream order."""
        config = self.config
        stream = records(
            config.stream,
            config.generator,
            config.count,
            seed=config.seed,
            changes=list(config.changes),
            concepts=list(config.concepts) if config.concepts else None,
        )
        ticks: list[Tick] = []

        def tick(found: Tick) -> None:
            ticks.append(found)
            if on_tick is not None:
                on_tick(found)

        self._published = asyncio.Event()
        async with self._clients() as (producer, client, admin):
            helpers = [asyncio.create_task(self._send_labels(client))]
            if admin is not None:
                helpers.append(asyncio.create_task(self._bootstrap(admin)))
            scoring: set[asyncio.Task[None]] = set()
            try:
                self.started, self._clock = datetime.now(UTC), time.monotonic()
                for index, record in enumerate(stream):
                    # Yields even when behind: scoring and labels must not starve.
                    await asyncio.sleep(
                        max(0.0, self._clock + index / config.rate - time.monotonic())
                    )
                    at = await self._publish(producer, record)
                    task = asyncio.create_task(self._score(client, index, at, record, tick))
                    scoring.add(task)
                    task.add_done_callback(scoring.discard)
                self._published.set()
                await asyncio.gather(*scoring)
                await helpers[0]  # the last labels are due label_delay after their records
            finally:
                for task in [*scoring, *helpers]:
                    task.cancel()
                await asyncio.gather(*scoring, *helpers, return_exceptions=True)
        return sorted(ticks, key=lambda t: t.index)

    @contextlib.asynccontextmanager
    async def _clients(
        self,
    ) -> AsyncIterator[tuple[AIOKafkaProducer, httpx.AsyncClient, httpx.AsyncClient | None]]:
        producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap_servers, linger_ms=5)
        await producer.start()
        limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
        try:
            async with contextlib.AsyncExitStack() as stack:
                client = await stack.enter_async_context(
                    httpx.AsyncClient(
                        base_url=self.serving_url, timeout=PREDICT_TIMEOUT, limits=limits
                    )
                )
                admin = None
                if self.admin_url and self.admin_token:
                    headers = {
                        "Authorization": f"Bearer {self.admin_token}",
                        "X-Driftloop-Actor": ACTOR,
                    }
                    admin = await stack.enter_async_context(
                        httpx.AsyncClient(base_url=self.admin_url, headers=headers, timeout=10)
                    )
                yield producer, client, admin
        finally:
            await producer.stop()

    async def _publish(self, producer: AIOKafkaProducer, record: dict[str, Any]) -> float:
        """Send the record without its label (that comes later); queue its label."""
        at = time.monotonic() - self._clock
        unlabelled = {k: v for k, v in record.items() if k != "label"}
        unlabelled["event_time"] = datetime.now(UTC).isoformat()
        delivery = await producer.send(
            Record.topic, json.dumps(unlabelled).encode(), key=record["record_id"].encode()
        )
        delivery.add_done_callback(self._delivered)
        self.sent += 1
        self._labels.append((at + self.config.label_delay, record["record_id"], record["label"]))
        return at

    def _delivered(self, delivery: asyncio.Future[Any]) -> None:
        if not delivery.cancelled() and delivery.exception() is not None:
            self.unpublished += 1

    async def _score(
        self,
        client: httpx.AsyncClient,
        index: int,
        at: float,
        record: dict[str, Any],
        tick: Callable[[Tick], None],
    ) -> None:
        body = {
            "stream": record["stream"],
            "record_id": record["record_id"],
            "features": record["features"],
        }
        prediction: Any = None
        model: tuple[str, int] | None = None
        try:
            response = await client.post("/predict", json=body)
            if response.status_code == 200:
                answer = response.json()
                prediction = answer["prediction"]
                model = (answer["model_id"], answer["model_version"])
                self.serving = model
            else:
                why = "no model serves" if response.status_code == 503 else "refused"
                self.failures[f"{why} (HTTP {response.status_code})"] += 1
        except httpx.TimeoutException:
            self.failures[f"late (over {PREDICT_TIMEOUT:g}s)"] += 1
        except httpx.HTTPError as exc:
            self.failures[type(exc).__name__] += 1
        label = record["label"]
        correct = model is not None and prediction == label
        tick(Tick(index, at, prediction, label, correct, *(model or (None, None))))

    async def _send_labels(self, client: httpx.AsyncClient) -> None:
        """Every FEEDBACK_EVERY, the labels now due, as one batch; a failed batch is retried
        until ``label_patience`` past its labels' time, then given up. Ends once every record
        was published and every label given or given up."""
        while self._labels or not self._published.is_set():
            await asyncio.sleep(FEEDBACK_EVERY)
            now = time.monotonic() - self._clock
            due: list[tuple[float, str, Any]] = []
            while self._labels and self._labels[0][0] <= now and len(due) < MAX_LABELS:
                due.append(self._labels.popleft())
            if not due:
                continue
            labels = [{"record_id": record_id, "label": label} for _, record_id, label in due]
            try:
                response = await client.post(
                    "/feedback", json={"stream": self.config.stream, "labels": labels}
                )
                response.raise_for_status()
                self.labels_sent += len(labels)
            except httpx.HTTPError:
                again = [label for label in due if now - label[0] < self.label_patience]
                self.labels_given_up += len(due) - len(again)
                self.labels_retried += len(again)
                self._labels.extendleft(reversed(again))

    async def _bootstrap(self, admin: httpx.AsyncClient) -> None:
        """Ask for a first experiment while no model serves: after ``warmup`` labels, and
        again with ``warmup`` more whenever the last one ended without a model."""
        asked_at = 0
        while self.serving is None:
            await asyncio.sleep(BOOTSTRAP_EVERY)
            if self.labels_sent < asked_at + self.warmup:
                continue
            if self.requested and await self._unfinished(admin, self.requested[-1]):
                continue
            if self.serving is not None:
                break
            try:
                response = await admin.post(
                    "/admin/experiments",
                    json={
                        "stream": self.config.stream,
                        "reason": f"no model serves the stream; {self.labels_sent} labels given",
                    },
                )
                response.raise_for_status()
            except httpx.HTTPError as exc:
                self.bootstrap_errors.append(str(exc) or type(exc).__name__)
                continue
            self.requested.append(response.json()["experiment_id"])
            asked_at, self._asked = self.labels_sent, time.monotonic()

    async def _unfinished(self, admin: httpx.AsyncClient, experiment_id: str) -> bool:
        """Whether the experiment may still give a model (or cannot be seen yet)."""
        try:
            response = await admin.get(f"/admin/experiments/{experiment_id}")
        except httpx.HTTPError:
            return True
        if response.status_code != 200:
            # Not recorded yet, or never: a scheduler that takes this long is not coming.
            return response.status_code == 404 and time.monotonic() - self._asked < 30.0
        status = response.json().get("status")
        if status in UNFINISHED:
            return True
        # Completed: a promotion may still be on its way to serving.
        ended = response.json().get("ended_at")
        if status == "completed" and ended:
            age = (datetime.now(UTC) - datetime.fromisoformat(ended)).total_seconds()
            return age < 10.0
        return False
