"""Journey: PostgreSQL stopped in the middle of a run and started again.

The six services run as `driftloop up` runs them, on a broker and a PostgreSQL cluster of
the test's own. While records stream in, an experiment runs and a client asks serving
for predictions, PostgreSQL is stopped for a while and started again. Ingestion is
SIGKILLed in the middle of the outage: had it committed offsets of rows that were not
durable, the restarted one would skip them. Nobody intervenes. Afterwards no service has
exited but the killed one, every valid record is stored exactly once, every malformed
one is dead-lettered, every experiment ended, and serving kept answering throughout.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from uuid import uuid4

import pytest

from driftloop.produce import produce
from driftloop.stack import SERVICES

from .helpers import eventually
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
from .reliability_stack import Fault, own_postgres, private_broker, supervised

pytestmark = pytest.mark.journey

RECORDS = 30_000
RATE = 600.0  # records a second
OUTAGE = 40.0  # seconds PostgreSQL is down: longer than a pool waits for a connection (30 s)


async def test_a_database_outage_mid_run_is_waited_out_and_loses_nothing(tmp_path: Path) -> None:
    stream = f"outage_{uuid4().hex[:8]}"
    sent = Mixed()
    with own_postgres() as (postgres, database_url):
        await register(database_url, stream, spec(stream))
        async with private_broker() as bootstrap:
            with supervised(tmp_path / "home", bootstrap, database_url) as services:
                url = services.serving_url
                producing = asyncio.create_task(
                    produce(mixed_records(stream, RECORDS, sent), bootstrap, rate=RATE)
                )
                await eventually(
                    lambda: stored_at_least(database_url, stream, FULL), 120, "a window"
                )
                first = await request_experiment(url, stream)
                await eventually(lambda: serves(url, stream), 240, "a champion")
                predictions = Predictions(url, stream)
                asking = asyncio.create_task(predictions.run(sample_features(stream)))
                await eventually(lambda: all_ended(database_url, stream), 240, "the first")
                second = await request_experiment(url, stream)
                await eventually(lambda: running(database_url, second), 120, "the first trial")
                before = services.pids()

                outage = Fault("PostgreSQL stopped", time.monotonic())
                await asyncio.to_thread(postgres.stop_server)
                await asyncio.sleep(OUTAGE / 2)
                # Had ingestion committed offsets of rows not yet durable, its successor
                # would start past them: they would be lost.
                killed = services.kill("ingestion")
                await asyncio.sleep(OUTAGE / 2)
                await asyncio.to_thread(postgres.start_server)
                outage.recovered_at = time.monotonic()
                await asyncio.to_thread(services.wait_restarted, "ingestion", killed, 180)

                await producing
                total = sent.valid + sent.malformed
                await eventually(
                    lambda: stored_at_least(database_url, stream, total), 180, f"{total} in"
                )
                await eventually(lambda: all_ended(database_url, stream), 240, "every experiment")
                # A batch whose announcement a kill cut off is announced by the outbox sweep.
                await eventually(
                    lambda: all_announced(bootstrap, stream, sent.valid), 150, "every announcement"
                )
                await asyncio.to_thread(services.wait_healthy, 60)
                after = services.pids()
                restarts = services.restarts()
                predictions.stopping = True
                await asking
                counts = await count(database_url, bootstrap, stream)

    print(
        f"\ndatabase outage: faults injected 2 (PostgreSQL down {outage.took:.1f}s; SIGKILL "
        f"ingestion during it); records sent {total} (valid {sent.valid}, malformed "
        f"{sent.malformed}), stored {counts.stored}, dead-lettered {counts.dead_lettered}, "
        f"lost {sent.valid - counts.stored}, stored twice {counts.stored - counts.distinct}; "
        f"experiments {[status for _, status, _ in counts.experiments]}; predictions sent "
        f"{predictions.sent}, failed {len(predictions.failures)}"
    )
    # Waited out, not restarted: every service but the one killed is the same process.
    assert {k: v for k, v in after.items() if k != "ingestion"} == {
        k: v for k, v in before.items() if k != "ingestion"
    }
    assert restarts == {name: int(name == "ingestion") for name in SERVICES}, restarts
    assert {first, second} <= {eid for eid, _, _ in counts.experiments}
    assert (counts.stored, counts.distinct) == (sent.valid, sent.valid)
    assert counts.dead_lettered == counts.dead_letter_positions == sent.malformed
    assert counts.announced == sent.valid  # each stored record announced once
    assert all(status in ENDED for _, status, _ in counts.experiments)
    assert all(reason for _, status, reason in counts.experiments if status == "failed")
    # Serving answers from the models it holds: the outage failed no prediction.
    assert predictions.failures == [] and predictions.answered
