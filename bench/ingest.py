"""Benchmark: records per second through the whole ingestion path, against a plain consumer.

Starts its own embedded broker and PostgreSQL, registers a stream, and produces N JSON
records (1% malformed, of several kinds) to ``driftloop.records`` with aiokafka. Then,
one after the other so they do not share the CPU:

- baseline: a plain aiokafka consumer reads the whole topic in batches of the same size
  and parses each message's JSON with the parser ingestion uses (jiter, through
  ``pydantic_core.from_json``), as any consumer of JSON must; it validates nothing,
  stores nothing and commits no offsets;
- ingestion: the service runs as its own process (``python -m driftloop_ingestion``) and
  validates, COPYs into PostgreSQL, dead-letters, announces and commits offsets (one batch
  is validated while the one before it is written);
- the store alone: the same rows, validated beforehand, written through the service's
  store code batch by batch (one transaction each, one after the other): what PostgreSQL
  itself takes on this machine, the ceiling of the full path.

Both rates are taken from the end of the first batch to the end of the last, so neither
counts its start (the service's consumer-group join takes seconds on Tansu). Ingestion's
batches end when their ``RecordsIngested`` arrives: sent once the rows are committed.

Rates depend on what else the machine runs, so the figures also give the CPU time each
side used per record (the service's process and all of PostgreSQL's; for the store alone,
this process and PostgreSQL) and the load average around the run. With C cores, a path
that takes T seconds of CPU per record cannot pass C / T records per second.

    uv run python bench/ingest.py [--records N] [--quick] [--profile FILE]

Prints a summary, then one JSON line of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import psutil
import psycopg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic_core import from_json

from driftloop.embedded import embedded_kafka, embedded_postgres, free_port
from driftloop.topics import ensure_topics, partitions
from driftloop_contracts import Record, RecordsIngested
from driftloop_ingestion import Settings
from driftloop_ingestion.batch import Plan, plan_batch
from driftloop_ingestion.check import Schemas, judge
from driftloop_ingestion.store import PostgresStore
from driftloop_ingestion.validation import StreamSchema
from driftloop_runtime import Message
from driftloop_store import migrate, open_pool, register_stream

STREAM = "bench"
CEILING = "bench_store_only"
SCHEMA = {
    "salary": "float",
    "commission": "float",
    "age": "int",
    "elevel": "category",
    "car": "category",
    "zipcode": "category",
    "hvalue": "float",
    "hyears": "int",
    "loan": "float",
}
TARGET = 0.5  # ingestion should keep at least half the plain consumer's pace


# How each malformed record is broken, and whether its reject names the stream (and so is
# counted in the stream's RecordsIngested summaries).
BROKEN: list[tuple[Callable[[bytes], bytes], bool]] = [
    (lambda r: b"\xff not json", False),
    (lambda r: r.replace(b'"age": ', b'"age": "').replace(b', "elevel"', b'", "elevel"'), True),
    (lambda r: r.replace(b'"loan": ', b'"loan": NaN, "x": '), True),
    (lambda r: r.replace(f'"stream": "{STREAM}"'.encode(), b'"stream": "nobody"'), False),
    (lambda r: r.replace(b'"event_time": "2026-11-23T12:00:00Z"', b'"event_time": "soon"'), True),
]


def broken_at(count: int, malformed: float) -> dict[int, int]:
    """Index of each malformed record -> how it is broken (an index into ``BROKEN``)."""
    every = round(1 / malformed) if malformed else count + 1
    return {i: (i // every) % len(BROKEN) for i in range(every - 1, count, every)}


def messages(count: int, malformed: float, seed: int = 7) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) pairs: Agrawal-like records, some of them broken."""
    rng = random.Random(seed)
    broken = broken_at(count, malformed)
    for i in range(count):
        record_id = f"r-{i:08d}"
        record = {
            "stream": STREAM,
            "record_id": record_id,
            "event_time": "2026-11-23T12:00:00Z",
            "features": {
                "salary": round(rng.uniform(20_000, 150_000), 2),
                "commission": round(rng.uniform(0, 75_000), 2),
                "age": rng.randint(20, 80),
                "elevel": rng.randint(0, 4),
                "car": rng.randint(1, 20),
                "zipcode": rng.randint(0, 8),
                "hvalue": round(rng.uniform(50_000, 900_000), 2),
                "hyears": rng.randint(1, 30),
                "loan": round(rng.uniform(0, 500_000), 2),
            },
            "label": rng.randint(0, 1),
        }
        value = json.dumps(record).encode()
        if i in broken:
            value = BROKEN[broken[i]][0](value)
        yield record_id.encode(), value


async def produce(bootstrap: str, count: int, malformed: float) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, max_batch_size=1 << 20, acks=1
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [
            await producer.send(Record.topic, value, key=key)
            for key, value in messages(count, malformed)
        ]
        await asyncio.gather(*futures)
        return count / (time.perf_counter() - started)
    finally:
        await producer.stop()


def assigned(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    """A consumer of every partition of ``topic`` from its start, in no group (no join wait)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    consumer.assign([TopicPartition(topic, p) for p in range(partitions(topic))])
    return consumer


def parsed(value: bytes | None) -> Any:
    """What the baseline does with each message: parse it, as ingestion's parser does."""
    try:
        return from_json(value or b"")
    except ValueError:
        return None


async def baseline(bootstrap: str, count: int, batch_size: int) -> float:
    consumer = assigned(bootstrap, Record.topic)
    await consumer.start()
    try:
        await consumer.seek_to_beginning()
        seen, first_batch, first_done = 0, 0, 0.0
        while seen < count:
            got = await consumer.getmany(timeout_ms=1000, max_records=batch_size)
            for batch in got.values():
                seen += len([parsed(message.value) for message in batch])
            if got and not first_batch:
                first_batch, first_done = seen, time.perf_counter()
        return (seen - first_batch) / (time.perf_counter() - first_done)
    finally:
        await consumer.stop()


class Cpu:
    """CPU seconds used by some processes since this was made: where the time went, whatever
    else the machine runs. Processes that appear meanwhile count in full."""

    def __init__(self, processes: Callable[[], Iterable[psutil.Process]]) -> None:
        self._processes = processes
        self._start = self._read()

    def _read(self) -> dict[int, float]:
        used = {}
        for process in self._processes():
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                used[process.pid] = times.user + times.system
        return used

    def used(self) -> float:
        return sum(seconds - self._start.get(pid, 0.0) for pid, seconds in self._read().items())


def postgres_processes(database_url: str) -> Callable[[], list[psutil.Process]]:
    """The server's processes: the postmaster and its children, read afresh each call."""
    with psycopg.connect(database_url) as conn:
        backend = conn.execute("SELECT pg_backend_pid()").fetchone()
        assert backend
        postmaster = psutil.Process(backend[0]).parent()  # while the backend lives
    assert postmaster
    return lambda: [postmaster, *postmaster.children()]


@dataclass
class Rate:
    records_per_s: float
    cpu_us_per_record: dict[str, float]


def per_record(seconds: float, records: int) -> float:
    return round(seconds / records * 1e6, 1)


async def ingestion(
    bootstrap: str, database_url: str, count: int, args: argparse.Namespace
) -> Rate:
    """Run the service until ``count`` records are accounted for by ``RecordsIngested``."""
    listener = assigned(bootstrap, RecordsIngested.topic)
    await listener.start()
    env = os.environ | {
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "PORT": str(free_port()),
        "DRIFTLOOP_LOG_LEVEL": "WARNING",
        "DRIFTLOOP_BATCH_MAX_RECORDS": str(args.batch),
    }
    command = [sys.executable, "-m", "driftloop_ingestion"]
    if args.profile:
        command[1:1] = ["-m", "cProfile", "-o", args.profile]
    postgres = postgres_processes(database_url)
    service = await asyncio.create_subprocess_exec(*command, env=env)
    try:
        await listener.seek_to_beginning()
        seen, first_batch, first_done = 0, 0, 0.0
        while seen < count:
            if service.returncode is not None:
                raise RuntimeError(f"the ingestion service exited with {service.returncode}")
            for batch in (await listener.getmany(timeout_ms=1000)).values():
                for message in batch:
                    summary = json.loads(message.value)
                    seen += summary["stored"] + summary["duplicates"] + summary["rejected"]
                if batch and not first_batch:
                    first_batch, first_done = seen, time.perf_counter()
                    service_cpu = Cpu(lambda: [psutil.Process(service.pid)])
                    postgres_cpu = Cpu(postgres)
        records = seen - first_batch
        cpu = {
            "service": per_record(service_cpu.used(), records),
            "postgres": per_record(postgres_cpu.used(), records),
        }
        return Rate(records / (time.perf_counter() - first_done), cpu)
    finally:
        await listener.stop()
        # uvicorn drains and exits, then re-raises the signal: SIGINT (KeyboardInterrupt)
        # lets cProfile write its file first, where SIGTERM would kill the process.
        service.send_signal(signal.SIGINT)
        await asyncio.wait_for(service.wait(), 30)


async def store_only(database_url: str, count: int, batch_size: int) -> Rate:
    """The store alone: rows validated beforehand, written batch by batch as the service does.

    This is the ceiling for the whole path on this machine: what PostgreSQL takes.
    """
    postgres = postgres_processes(database_url)
    schemas = Schemas({STREAM: StreamSchema(STREAM, SCHEMA, "class", "classification")})
    values = [Message(Record.topic, 0, i, v) for i, (_, v) in enumerate(messages(count, 0))]
    plans = []
    for start in range(0, count, batch_size):
        chunk = values[start : start + batch_size]
        plan = plan_batch(chunk, [judge(m.value, schemas, 1 << 16) for m in chunk], schemas)
        plans.append(Plan([row._replace(stream=CEILING) for row in plan.rows], []))
    async with open_pool(database_url, max_size=1) as pool:
        store = PostgresStore(lambda: pool)
        client_cpu, postgres_cpu = Cpu(lambda: [psutil.Process()]), Cpu(postgres)
        started = time.perf_counter()
        for plan in plans:
            async with store.transaction() as writer:
                await writer.write(plan)
        rate = count / (time.perf_counter() - started)
        cpu = {
            "client": per_record(client_cpu.used(), count),
            "postgres": per_record(postgres_cpu.used(), count),
        }
        return Rate(rate, cpu)


async def counted(database_url: str) -> tuple[int, int]:
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        stored = await (
            await conn.execute("SELECT count(*) FROM records WHERE stream = %s", (STREAM,))
        ).fetchone()
        rejected = await (await conn.execute("SELECT count(*) FROM rejected_records")).fetchone()
    assert stored and rejected
    return stored[0], rejected[0]


async def run(bootstrap: str, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = os.getloadavg()[0]
    await ensure_topics(bootstrap)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await migrate(conn)
        await register_stream(conn, STREAM, SCHEMA, "class", {"task": "classification"})
        await register_stream(conn, CEILING, SCHEMA, "class", {"task": "classification"})
    broken = broken_at(args.records, args.malformed)
    unannounced = sum(1 for kind in broken.values() if not BROKEN[kind][1])
    print(f"producing {args.records} records ({args.malformed:.0%} malformed) ...", flush=True)
    produced = await produce(bootstrap, args.records, args.malformed)
    print("plain aiokafka consumer ...", flush=True)
    plain = await baseline(bootstrap, args.records, args.batch)
    print("ingestion service ...", flush=True)
    full = await ingestion(bootstrap, database_url, args.records - unannounced, args)
    stored, rejected = await counted(database_url)
    print("the store alone ...", flush=True)
    ceiling = await store_only(database_url, args.records, args.batch)
    return {
        "records": args.records,
        "stored": stored,
        "rejected": rejected,
        "malformed_sent": len(broken),
        "batch_max_records": args.batch,
        "produce_records_per_s": round(produced),
        "plain_consumer_records_per_s": round(plain),
        "ingestion_records_per_s": round(full.records_per_s),
        "store_only_records_per_s": round(ceiling.records_per_s),
        "ratio": round(full.records_per_s / plain, 3),
        "ratio_to_store_only": round(full.records_per_s / ceiling.records_per_s, 3),
        "ingestion_cpu_us_per_record": full.cpu_us_per_record,
        "store_only_cpu_us_per_record": ceiling.cpu_us_per_record,
        "target_ratio": TARGET,
        "cpus": os.cpu_count(),
        # Other work on the machine slows every figure: the 1-minute load at start and end.
        "load_average": [round(load_at_start, 1), round(os.getloadavg()[0], 1)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--quick", action="store_true", help="30k records (<60 s)")
    parser.add_argument("--malformed", type=float, default=0.01)
    parser.add_argument(
        "--batch", type=int, default=Settings().batch_max_records, help="records per batch"
    )
    parser.add_argument("--profile", help="write the service's cProfile stats to this file")
    args = parser.parse_args()
    if args.quick:
        args.records = min(args.records, 30_000)
    started = time.perf_counter()
    with embedded_kafka() as bootstrap, embedded_postgres() as database_url:
        figures = asyncio.run(run(bootstrap, database_url, args))
    figures["seconds"] = round(time.perf_counter() - started, 1)
    print()
    print(f"producer        {figures['produce_records_per_s']:>9,} records/s")
    print(
        f"plain consumer  {figures['plain_consumer_records_per_s']:>9,} records/s"
        "  (fetch and parse the JSON; no validation, no store, no commits)"
    )
    print(
        f"ingestion       {figures['ingestion_records_per_s']:>9,} records/s"
        f"  ({figures['ratio']:.2f}x the plain consumer; target {TARGET}x)"
    )
    print(
        f"store alone     {figures['store_only_records_per_s']:>9,} records/s"
        f"  (pre-validated rows; ingestion reaches {figures['ratio_to_store_only']:.2f}x)"
    )
    service_cpu, store_cpu = (
        figures["ingestion_cpu_us_per_record"],
        figures["store_only_cpu_us_per_record"],
    )
    print(
        f"CPU per record  ingestion: service {service_cpu['service']} us,"
        f" PostgreSQL {service_cpu['postgres']} us; store alone: client {store_cpu['client']} us,"
        f" PostgreSQL {store_cpu['postgres']} us"
    )
    start_load, end_load = figures["load_average"]
    print(f"load average    {start_load} at start, {end_load} at end (other work slows every rate)")
    print(
        f"stored {figures['stored']:,}, rejected {figures['rejected']:,} "
        f"of {figures['records']:,} ({figures['malformed_sent']:,} malformed sent)"
        f" in {figures['seconds']} s"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
