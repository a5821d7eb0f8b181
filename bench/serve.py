"""Benchmark: single predictions per second and their latency, against a bare uvicorn echo app.

Starts its own embedded broker and PostgreSQL, registers a stream with the Agrawal schema,
starts the service as its own process (``python -m driftloop_serving``), trains a logistic
regression on river's Agrawal generator with driftloop_learn, stores and appoints it as
evaluation does and publishes its ``ModelPromoted``; once the service is ready (and idle),
one pass after the other on the same machine:

- echo: a bare ASGI app under uvicorn (same settings as the service: uvloop, httptools, no
  access log) that parses the JSON body and answers it back: what uvicorn itself takes;
- serving: ``POST /predict`` with one record each, prediction logging to Kafka ON;
  (these two alternate for ``--rounds`` rounds, an echo pass then a serving pass; the
  ratio is the median of the rounds' ratios, each taken from two passes a few seconds
  apart, so a slow spell of the machine moves one round rather than one side)
- echo at half load: requests at a fixed rate, 50% of the serving's median maximum: the
  latency floor of the machine at that rate;
- serving at half load: the same fixed rate, where the p99 target is judged. Latency
  counts from each request's scheduled time, so a slow answer cannot hide the requests
  queued behind it.

The load generator is a separate process (a small asyncio HTTP/1.1 client on keep-alive
connections, the same for every pass and with the same concurrency). Every pass starts
with a warm-up that is not measured. Besides requests/s, each closed pass reports the
server's CPU time per request, which contention from other processes on the machine
changes least.

    uv run python bench/serve.py [--quick] [--seconds S] [--rounds R] [--connections C]
                                 [--profile FILE]

Prints a summary, then one JSON line of figures.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psutil

# The echo app and the load generator run this file as their own processes: the heavy
# imports (the stack, the learning libraries) wait until the orchestration needs them.

STREAM = "bench_serve"
TARGET_RATIO = 0.5
TARGET_P99_MS = 10.0
GRACE = 2.0  # seconds an open-loop pass waits for its last answers
HERE = Path(__file__).resolve()


# -- the echo app (its own process) ------------------------------------------------------


async def echo(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Parse the JSON body and answer it back: uvicorn's floor for a JSON API."""
    if scope["type"] != "http":
        return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    answer = json.dumps(json.loads(body)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(answer))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": answer})


def run_echo(port: int) -> None:
    import uvicorn

    uvicorn.run(echo, host="127.0.0.1", port=port, log_level="warning", access_log=False)


# -- the load generator (its own process) -------------------------------------------------


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection with at most one request in flight."""

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).lower()
        at = head.find(b"content-length:")
        length = int(head[at + 15 :].split(b"\r\n", 1)[0]) if at >= 0 else 0
        if len(self.buffer) < end + 4 + length:
            return
        status = int(self.buffer[9:12])
        del self.buffer[: end + 4 + length]
        waiter, self.waiter = self.waiter, None
        waiter.set_result(status)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(ConnectionError("connection lost"))

    async def request(self, data: bytes) -> int:
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        return await self.waiter


async def _connect(port: int, count: int) -> list[Connection]:
    loop = asyncio.get_running_loop()
    made = [await loop.create_connection(Connection, "127.0.0.1", port) for _ in range(count)]
    return [protocol for _, protocol in made]


async def load(config: dict[str, Any]) -> dict[str, Any]:
    """Closed loop (``rate`` None: each connection sends as soon as it has its answer) or
    open loop at ``rate`` requests/s; latencies only after ``warmup`` seconds."""
    body = config["body"].encode()
    request = (
        f"POST {config['path']} HTTP/1.1\r\nhost: 127.0.0.1\r\n"
        f"content-type: application/json\r\ncontent-length: {len(body)}\r\n\r\n"
    ).encode() + body
    connections = await _connect(config["port"], config["connections"])
    cpu_started = time.process_time()
    clock = time.perf_counter
    start = clock()
    measure_from = start + config["warmup"]
    end = measure_from + config["seconds"]
    latencies: list[float] = []
    errors = unfinished = answered = 0

    async def one(conn: Connection, sent_at: float) -> None:
        nonlocal errors, answered
        try:
            status = await conn.request(request)
        except ConnectionError:
            status = 0
        done = clock()
        answered += 1
        if sent_at >= measure_from:
            latencies.append(done - sent_at)
            errors += status != 200

    if config["rate"] is None:

        async def worker(conn: Connection) -> None:
            while clock() < end:
                await one(conn, clock())

        await asyncio.gather(*(worker(c) for c in connections))
    else:
        # Request i is due at start + i / rate, whoever sends it; a connection takes the
        # next due request as soon as it is free, so a slow answer delays the requests
        # behind it and their latency, counted from when they were due, shows it.
        interval = 1.0 / config["rate"]
        slots = itertools.count()
        cut_off = end + GRACE

        async def paced(conn: Connection) -> None:
            nonlocal unfinished
            while True:
                due = start + next(slots) * interval
                if due >= end:
                    return
                now = clock()
                if now >= cut_off:
                    # Overloaded: what is still waiting counts, with its wait so far.
                    if due >= measure_from:
                        unfinished += 1
                        latencies.append(now - due)
                    continue
                if due > now:
                    await asyncio.sleep(due - now)
                await one(conn, due)

        await asyncio.gather(*(paced(c) for c in connections))
    measured = end - measure_from
    client_cpu = (time.process_time() - cpu_started) / (clock() - start)
    for conn in connections:
        conn.transport.close()
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": round((len(latencies) - unfinished) / measured, 1),
        "unfinished": unfinished,
        "answered": answered,
        "client_cpu": round(client_cpu, 2),
        "p50_ms": round(_quantile(latencies, 0.50) * 1000, 3),
        "p99_ms": round(_quantile(latencies, 0.99) * 1000, 3),
    }


def _quantile(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def run_loadgen(config: dict[str, Any]) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    print(json.dumps(asyncio.run(load(config))))


# -- the orchestration ---------------------------------------------------------------------


def _record(features: dict[str, Any]) -> str:
    return json.dumps({"stream": STREAM, "features": features})


async def register(bootstrap: str, database_url: str, rows: int) -> list[Any]:
    """Create the topics and register the stream; the Agrawal records to train on and send."""
    import psycopg

    from driftloop.synthetic import examples
    from driftloop.topics import ensure_topics
    from driftloop_store import migrate, register_stream

    await ensure_topics(bootstrap)
    data = list(examples("agrawal", count=rows + 1, seed=7))
    schema = {name: ("float" if isinstance(v, float) else "int") for name, v in data[0][0].items()}
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await migrate(conn)
        await register_stream(conn, STREAM, schema, "class", None)
    return data


async def promote(bootstrap: str, database_url: str, data: list[Any]) -> None:
    """Train the model, store and appoint it as evaluation does, and announce it."""
    import psycopg
    from aiokafka import AIOKafkaProducer

    from driftloop_contracts import ModelPromoted, PromotionReason
    from driftloop_learn import Dataset, Row, dump, get_family
    from driftloop_store import put_artifact

    dataset = Dataset.of(Row(str(i), i, x, y) for i, (x, y) in enumerate(data))
    model = get_family("sklearn.logistic_regression").build({}, 1, "classification").fit(dataset)
    artifact, sha = dump(model)
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        await put_artifact(conn, artifact, "application/vnd.driftloop.model+pickle")
        await conn.execute(
            "INSERT INTO models (id, stream, version, artifact_sha256, family)"
            " VALUES ('bench-1', %s, 1, %s, 'sklearn.logistic_regression')",
            (STREAM, sha),
        )
        cur = await conn.execute(
            "INSERT INTO serving_history (stream, model_id, reason, actor)"
            " VALUES (%s, 'bench-1', 'first_model', 'bench') RETURNING id",
            (STREAM,),
        )
        row = await cur.fetchone()
    assert row is not None
    event = ModelPromoted(
        stream=STREAM,
        model_id="bench-1",
        version=1,
        artifact_sha256=sha,
        serving_id=row[0],
        reason=PromotionReason.FIRST_MODEL,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(
            event.topic, event.model_dump_json().encode(), key=STREAM.encode()
        )
    finally:
        await producer.stop()


def start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    # Output to a file that lives as long as the process: a full pipe would stall it.
    log = tempfile.TemporaryFile()  # noqa: SIM115
    return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)


def _output(process: subprocess.Popen[bytes]) -> str:
    if process.stdout is None:
        return ""
    process.stdout.seek(0)
    return process.stdout.read().decode(errors="replace")[-4000:]


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} died: {_output(process)}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout}s")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(15)
    except subprocess.TimeoutExpired:
        process.kill()


def drive(
    port: int,
    path: str,
    body: str,
    args: argparse.Namespace,
    rate: float | None,
    server: psutil.Process,
) -> dict[str, Any]:
    """One pass of the load generator; adds the server's CPU use over the pass."""
    config = {
        "port": port,
        "path": path,
        "body": body,
        "connections": args.connections,
        "seconds": args.seconds,
        "warmup": args.warmup,
        "rate": rate,
    }
    before = server.cpu_times()
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, str(HERE), "--loadgen", json.dumps(config)],
        capture_output=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    after = server.cpu_times()
    figures: dict[str, Any] = json.loads(done.stdout.decode().strip().splitlines()[-1])
    busy = (after.user - before.user) + (after.system - before.system)
    figures["server_cpu"] = round(busy / elapsed, 2)
    # CPU per answer is what contention for the machine's cores changes least.
    figures["cpu_us"] = round(busy / max(figures["answered"], 1) * 1e6, 1)
    return figures


def _median(passes: list[dict[str, Any]]) -> dict[str, Any]:
    """The pass of median requests/s (the lower middle one of an even number)."""
    return sorted(passes, key=lambda figures: figures["rps"])[(len(passes) - 1) // 2]


def _logged(port: int) -> dict[str, float]:
    import httpx

    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    found: dict[str, float] = {}
    for line in text.splitlines():
        for name in (
            "prediction_log_sent_total",
            "prediction_log_failed_total",
            "model_batch_rows_sum",
            "model_batch_rows_count",
        ):
            if line.startswith(f"driftloop_serving_{name}"):
                found[name] = found.get(name, 0.0) + float(line.rsplit(" ", 1)[1])
    return found


def run(bootstrap: str, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    import psutil

    from driftloop.embedded import free_port

    data = asyncio.run(register(bootstrap, database_url, args.rows))
    body = _record(data[-1][0])
    port = free_port()
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "DRIFTLOOP_LOG_LEVEL": "WARNING",
    }
    profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
    # The service starts while the model trains; it is idle during the echo's passes.
    service = start([sys.executable, *profile, "-m", "driftloop_serving"], env)
    try:
        asyncio.run(promote(bootstrap, database_url, data[:-1]))
        wait_ready(f"http://127.0.0.1:{port}/ready", service)
        server = psutil.Process(service.pid)

        echo_port = free_port()
        echo_process = start([sys.executable, str(HERE), "--echo", str(echo_port)])
        try:
            _wait_echo(echo_port, body, echo_process)
            echo_server = psutil.Process(echo_process.pid)
            # Closed passes alternate, echo then serving, round after round: the ratio is the
            # median of the rounds' own, so a slow spell of the machine moves one round. Each
            # side's median pass gives its requests/s, latency and CPU figures.
            echoes, serves = [], []
            for round_ in range(1, args.rounds + 1):
                print(f"round {round_} of {args.rounds}: echo app ...", flush=True)
                echoes.append(drive(echo_port, "/", body, args, None, echo_server))
                print(f"round {round_} of {args.rounds}: serving ...", flush=True)
                serves.append(drive(port, "/predict", body, args, None, server))
            echo_figures, full = _median(echoes), _median(serves)
            ratios = [round(s["rps"] / e["rps"], 3) for e, s in zip(echoes, serves, strict=True)]
            # Latency is judged at half the load the service sustains; the echo at the same
            # rate gives this machine's floor.
            half_rate = full["rps"] * 0.5
            print(f"echo app at {half_rate:.0f} requests/s ...", flush=True)
            echo_half = drive(echo_port, "/", body, args, half_rate, echo_server)
        finally:
            stop(echo_process)
        print(f"serving at {half_rate:.0f} requests/s ...", flush=True)
        half = drive(port, "/predict", body, args, half_rate, server)
        time.sleep(1.0)  # the last logs leave the queue
        logged = _logged(port)
    finally:
        stop(service)
    return {
        "model": "sklearn.logistic_regression",
        "features": len(data[0][0]),
        "connections": args.connections,
        "seconds_per_pass": args.seconds,
        "echo_rps": echo_figures["rps"],
        "echo_p50_ms": echo_figures["p50_ms"],
        "echo_p99_ms": echo_figures["p99_ms"],
        "echo_server_cpu": echo_figures["server_cpu"],
        "echo_client_cpu": echo_figures["client_cpu"],
        "echo_half_load_p99_ms": echo_half["p99_ms"],
        "serve_rps": full["rps"],
        "serve_p50_ms": full["p50_ms"],
        "serve_p99_ms": full["p99_ms"],
        "serve_server_cpu": full["server_cpu"],
        "serve_client_cpu": full["client_cpu"],
        "ratio": statistics.median(ratios),
        "round_ratios": ratios,
        "echo_cpu_us_per_request": echo_figures["cpu_us"],
        "serve_cpu_us_per_request": full["cpu_us"],
        "cpu_ratio": round(echo_figures["cpu_us"] / full["cpu_us"], 3),
        "target_ratio": TARGET_RATIO,
        "half_load_target_rps": round(half_rate, 1),
        "half_load_rps": half["rps"],
        "half_load_p50_ms": half["p50_ms"],
        "half_load_p99_ms": half["p99_ms"],
        "half_load_unfinished": half["unfinished"],
        "target_p99_ms": TARGET_P99_MS,
        "errors": sum(f["errors"] for f in (*echoes, echo_half, *serves, half)),
        "prediction_logs_sent": int(logged.get("prediction_log_sent_total", 0)),
        "prediction_logs_failed": int(logged.get("prediction_log_failed_total", 0)),
        "mean_model_batch_rows": round(
            logged.get("model_batch_rows_sum", 0) / max(logged.get("model_batch_rows_count", 0), 1),
            1,
        ),
        "cpus": os.cpu_count(),
    }


def _wait_echo(port: int, body: str, process: subprocess.Popen[bytes]) -> None:
    import httpx

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the echo app died")
        try:
            if httpx.post(f"http://127.0.0.1:{port}/", content=body, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError("the echo app did not start")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short passes (<60 s in all)")
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per pass")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per pass")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=5, help="closed passes of each app")
    parser.add_argument("--rows", type=int, default=5000, help="training rows")
    parser.add_argument("--profile", help="write the service's cProfile stats to this file")
    parser.add_argument("--echo", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--loadgen", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo is not None:
        run_echo(args.echo)
        return
    if args.loadgen is not None:
        run_loadgen(json.loads(args.loadgen))
        return
    if args.quick:
        args.seconds, args.warmup = min(args.seconds, 3.0), min(args.warmup, 1.0)
        args.rounds = min(args.rounds, 3)
    from driftloop.embedded import embedded_kafka, embedded_postgres

    started = time.perf_counter()
    with embedded_kafka() as bootstrap, embedded_postgres() as database_url:
        figures = run(bootstrap, database_url, args)
    figures["seconds"] = round(time.perf_counter() - started, 1)
    print()
    print(
        f"echo app        {figures['echo_rps']:>9,.0f} requests/s"
        f"  p50 {figures['echo_p50_ms']:.2f} ms  p99 {figures['echo_p99_ms']:.2f} ms"
    )
    print(
        f"serving         {figures['serve_rps']:>9,.0f} requests/s"
        f"  p50 {figures['serve_p50_ms']:.2f} ms  p99 {figures['serve_p99_ms']:.2f} ms"
    )
    rounds = ", ".join(f"{r:.2f}" for r in figures["round_ratios"])
    print(
        f"serving / echo  {figures['ratio']:.2f}x (median of the rounds: {rounds});"
        f" target {TARGET_RATIO}x"
    )
    print(
        f"serving at half {figures['half_load_rps']:>9,.0f} requests/s"
        f"  p50 {figures['half_load_p50_ms']:.2f} ms  p99 {figures['half_load_p99_ms']:.2f} ms"
        f"  (target p99 < {TARGET_P99_MS:.0f} ms)"
    )
    print(f"echo at half    p99 {figures['echo_half_load_p99_ms']:.2f} ms  (this machine's floor)")
    print(
        f"server CPU      {figures['echo_cpu_us_per_request']:.0f} us per echo,"
        f" {figures['serve_cpu_us_per_request']:.0f} us per prediction"
        f" ({figures['cpu_ratio']:.2f}x: the ratio on a core of its own)"
    )
    print(
        f"errors {figures['errors']}, unanswered at half load {figures['half_load_unfinished']},"
        f" prediction logs sent {figures['prediction_logs_sent']:,}"
        f" (failed {figures['prediction_logs_failed']}) in {figures['seconds']} s"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
