"""One consumer for several topics, read in Kafka batches and handled one event at a time,
in order: the shape of the drift, evaluation and scheduler consumers.

One consumer reads all the topics: a consumer group settles once at every start instead
of once a topic (Tansu's joins are slow), and a process never handles two of its events
at once. A new group starts from the oldest retained message; each service says why it
must.

At least once: offsets are committed after a Kafka batch is handled, and a batch whose
handling raised (the store was unreachable) is read again after a pause; the handler
skips events it already handled, by id. Messages are parsed by topic here, so a message
that is not a valid event is logged and skipped instead of failing the batch, and so is
an event whose values the store refuses (``raw``): neither can stall the stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Annotated

from aiokafka.coordinator.assignors.range import RangePartitionAssignor
from aiokafka.coordinator.assignors.roundrobin import RoundRobinPartitionAssignor
from faststream.kafka import KafkaRouter
from faststream.middlewares import AckPolicy
from pydantic import SkipValidation

from driftloop_contracts import Event

from .raw import Message, as_raw, batch_schema, parse_event, unless_refused

RETRY_PAUSE = 1.0  # seconds before a Kafka batch that failed is read again
logger = logging.getLogger("driftloop.consume")


def consume_batches(
    router: KafkaRouter,
    consumed: Mapping[str, type[Event]],
    handle: Callable[[Event], Awaitable[None]],
    *,
    group_id: str,
    max_records: int,
    title: str,
    same_partitions: bool = False,
    before: Callable[[list[Event]], Awaitable[None]] | None = None,
) -> None:
    """Subscribe ``router``, as the group ``group_id``, to the topics of ``consumed`` (each
    topic's event type), in batches of up to ``max_records``; ``handle`` each valid event
    of a batch in turn, after ``before`` has seen them all, if given.

    ``title`` names the subscriber in the AsyncAPI document. ``same_partitions`` uses
    range assignment: each replica gets the same partition numbers of every topic, so
    with all of them keyed alike (and partitioned alike) one replica sees all of a key's
    events.
    """

    async def on_batch(messages: list[Message]) -> None:
        try:
            events = [(m, e) for m in messages if (e := parse_event(consumed, m)) is not None]
            if before is not None:
                await before([event for _, event in events])
            for message, event in events:
                with unless_refused(message, event):
                    await handle(event)
        except Exception:
            logger.exception("%s: handling a batch failed; it is read again", title)
            await asyncio.sleep(RETRY_PAUSE)  # an outage must not spin the consumer
            raise

    # What FastStream reads the batch as: raw and unvalidated, shown in AsyncAPI as the
    # consumed events. Set here, as the event types are only known now.
    on_batch.__annotations__["messages"] = Annotated[
        list[Message], SkipValidation, batch_schema(*consumed.values())
    ]
    # Round robin is FastStream's own default.
    assignor = RangePartitionAssignor if same_partitions else RoundRobinPartitionAssignor
    router.subscriber(
        *consumed,
        group_id=group_id,
        partition_assignment_strategy=(assignor,),
        batch=True,
        max_records=max_records,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=as_raw,
        title=title,
    )(on_batch)
