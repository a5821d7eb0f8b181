"""Journey: every service SIGKILLed at a random moment of a 50,000-record run, and restarted.

The six services run as `driftloop up` runs them, each its own process under the
supervisor, on a real broker and a real PostgreSQL. The reference producer sends 50,000
Agrawal records with one malformed record after every hundred. Two experiments are
asked for by hand. One service after another is killed with SIGKILL at a random moment
and restarted by the supervisor: ingestion, training and the scheduler while the first
experiment runs; evaluation, drift and serving while the second runs and a client keeps
asking serving for predictions. Afterwards every valid record is stored exactly once,
every malformed one is dead-lettered, every stored record was announced once, every
experiment ended, and predictions failed only between serving's kill and its first
answer after the restart. The summary line says what was injected and counted;
``DRIFTLOOP_FAULT_SEED`` replays a run's moments.

A kill between a batch's commit and its announcement is too narrow a moment to hit by
chance, so a second test leaves an announcement in the outbox as such a kill does.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest
from pydantic import SecretStr

import driftloop_ingestion
from driftloop.produce import produce
from driftloop.stack import SERVICES
from driftloop_contracts import RecordsIngested
from driftloop_store import enqueue

from .helpers import eventually, read_topic, running_server
from .reliability_load import (
    ENDED,
    FULL,
    Mixed,
    Predictions,
    all_announced,
    all_ended,
    count,
    mixed_records,
    register,
    request_experiment,
    running,
    sample_features,
    serves,
    spec,
    stored_at_least,
)
from .reliability_stack import Fault, Supervised, private_broker, supervised

pytestmark = pytest.mark.journey

RECORDS = 50_000
RATE = 600.0  # records a second: the run lasts about as long as the faults take


async def kill_and_restart(services: Supervised, name: str, rng: random.Random) -> Fault:
    """Wait a random moment, SIGKILL ``name``, and wait until the supervisor restarted it."""
    await asyncio.sleep(rng.uniform(0.5, 4.0))
    fault = services.kill(name)
    took = await asyncio.to_thread(services.wait_restarted, name, fault)
    print(f"{fault.what}: healthy again after {took:.1f}s", flush=True)
    return fault


async def test_each_service_killed_at_a_random_moment_loses_nothing_and_ends_every_experiment(
    tmp_path: Path, database_url: str
) -> None:
    seed = int(os.environ.get("DRIFTLOOP_FAULT_SEED", time.time_ns() % 1_000_000))
    rng = random.Random(seed)
    stream = f"crash_{uuid4().hex[:8]}"
    await register(database_url, stream, spec(stream))
    sent = Mixed()
    async with private_broker() as bootstrap:
        with supervised(tmp_path / "home", bootstrap, database_url) as services:
            url = services.serving_url
            producing = asyncio.create_task(
                produce(mixed_records(stream, RECORDS, sent), bootstrap, rate=RATE)
            )
            faults = [await kill_and_restart(services, "ingestion", rng)]
            await eventually(
                lambda: stored_at_least(database_url, stream, FULL), 120, "a window's records"
            )
            first = await request_experiment(url, stream)
            await eventually(lambda: running(database_url, first), 120, "the first trial")
            faults += [await kill_and_restart(services, n, rng) for n in ("training", "scheduler")]

            await eventually(lambda: serves(url, stream), 240, "a champion")
            predictions = Predictions(url, stream)
            asking = asyncio.create_task(predictions.run(sample_features(stream)))
            await eventually(lambda: all_ended(database_url, stream), 240, "the first to end")
            second = await request_experiment(url, stream)
            await eventually(lambda: running(database_url, second), 120, "the first trial")
            faults += [await kill_and_restart(services, n, rng) for n in ("evaluation", "drift")]
            serving = await kill_and_restart(services, "serving", rng)
            faults.append(serving)

            await producing
            total = sent.valid + sent.malformed
            await eventually(
                lambda: stored_at_least(database_url, stream, total), 180, f"{total} records in"
            )
            await eventually(lambda: all_ended(database_url, stream), 240, "every experiment")
            # A batch whose announcement a kill cut off is announced by the outbox sweep.
            await eventually(
                lambda: all_announced(bootstrap, stream, sent.valid), 150, "every announcement"
            )
            predictions.stopping = True
            await asking
            counts = await count(database_url, bootstrap, stream)
            restarts = services.restarts()

    back = predictions.first_answer_after(serving.at)
    print(
        f"\ncrash test (seed {seed}): faults injected {len(faults)} ("
        + ", ".join(f"{f.what} back in {f.took:.1f}s" for f in faults)
        + f"); records sent {total} (valid {sent.valid}, malformed {sent.malformed}), stored "
        f"{counts.stored}, dead-lettered {counts.dead_lettered}, lost "
        f"{sent.valid - counts.stored}, stored twice {counts.stored - counts.distinct}; "
        f"experiments {[status for _, status, _ in counts.experiments]}; predictions sent "
        f"{predictions.sent}, failed {len(predictions.failures)}, answered again "
        + (f"{back - serving.at:.1f}s after serving's kill" if back else "never")
    )
    # Each service restarted once, after its kill: none died of another's.
    assert restarts == dict.fromkeys(SERVICES, 1), restarts
    assert {first, second} <= {eid for eid, _, _ in counts.experiments}
    assert (counts.stored, counts.distinct) == (sent.valid, sent.valid)
    assert counts.dead_lettered == counts.dead_letter_positions == sent.malformed
    assert counts.announced == sent.valid  # each stored record announced once
    assert all(status in ENDED for _, status, _ in counts.experiments)
    assert all(reason for _, status, reason in counts.experiments if status == "failed")
    # Predictions were answered before serving's kill and again after its restart, and
    # failed only in between.
    assert back is not None and predictions.answered[0] < serving.at
    assert all(serving.at <= at <= back for at, _ in predictions.failures), predictions.failures


async def test_an_announcement_a_crash_left_in_the_outbox_is_sent_though_no_record_follows(
    database_url: str,
) -> None:
    # Ingestion died after its batch committed and before the announcement went out, a
    # while ago; the stream has been quiet since. Restarted, it must still announce.
    stream = f"quiet_{uuid4().hex[:8]}"
    await register(database_url, stream, spec(stream))
    left = RecordsIngested(
        stream=stream, batch_id=uuid4(), stored=1, duplicates=0, rejected=0, labelled=1
    )
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        ids = await enqueue(conn, [(left.topic, stream.encode(), left.model_dump(mode="json"))])
        await conn.execute(
            "UPDATE outbox SET created_at = now() - interval '5 minutes' WHERE id = ANY(%s)",
            (ids,),
        )
    # A broker of its own: no record on it, so no batch arrives to trigger a sweep.
    async with private_broker() as bootstrap:
        settings = driftloop_ingestion.Settings(
            kafka_bootstrap_servers=bootstrap, database_url=SecretStr(database_url)
        )
        async with running_server(driftloop_ingestion.create_app(settings)):

            async def announced() -> bool:
                found = await read_topic(bootstrap, RecordsIngested.topic)
                return any(RecordsIngested.parse(v).event_id == left.event_id for _, v in found)

            await eventually(announced, timeout=60, what="the left-over announcement")
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        cur = await conn.execute("SELECT count(*) FROM outbox WHERE id = ANY(%s)", (ids,))
        assert await cur.fetchone() == (0,)
