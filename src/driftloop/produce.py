"""``driftloop produce``: stream a file or a synthetic stream into ``driftloop.records``.

Plain JSON values keyed by record id, through aiokafka: exactly what any other Kafka
client would send, so this doubles as the reference producer.
"""

from __future__ import annotations

import asyncio
import csv
import json
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaProducer

from driftloop_contracts import Record

RESERVED = ("stream", "record_id", "event_time", "features", "label")


def _scalar(text: str) -> Any:
    """CSV cells arrive as text: numbers become numbers, empty becomes null."""
    if text == "":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def _envelope(row: dict[str, Any], stream: str, index: int, label_column: str) -> dict[str, Any]:
    if isinstance(row.get("features"), dict):  # already an envelope: fill what is missing
        return {
            "stream": stream,
            "record_id": f"{stream}-{index:09d}",
            "event_time": datetime.now(UTC).isoformat(),
            **row,
        }
    features = {k: v for k, v in row.items() if k not in (*RESERVED, label_column)}
    return {
        "stream": row.get("stream", stream),
        "record_id": str(row.get("record_id", f"{stream}-{index:09d}")),
        "event_time": row.get("event_time") or datetime.now(UTC).isoformat(),
        "features": features,
        "label": row.get(label_column),
    }


def file_records(path: Path, stream: str, label_column: str = "label") -> Iterator[dict[str, Any]]:
    """Records from a CSV file (header row) or JSON lines (envelopes or flat objects)."""
    suffix = path.suffix.lower()
    with path.open(newline="") as handle:
        if suffix == ".csv":
            for index, row in enumerate(csv.DictReader(handle)):
                cells = {k: _scalar(v) for k, v in row.items()}
                yield _envelope(cells, stream, index, label_column)
        elif suffix in (".jsonl", ".ndjson", ".json"):
            for index, line in enumerate(handle):
                if line.strip():
                    yield _envelope(json.loads(line), stream, index, label_column)
        else:
            raise ValueError(
                f"{path}: expected .csv, .jsonl or .ndjson, not {suffix or 'no suffix'}"
            )


async def produce(
    records: Iterable[dict[str, Any]],
    bootstrap_servers: str,
    rate: float = 0.0,
    advance: Callable[[int], None] = lambda n: None,
) -> int:
    """Send every record, at most ``rate`` a second (0: no limit); return how many."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap_servers, linger_ms=5, max_batch_size=256 * 1024, acks="all"
    )
    await producer.start()
    sent, started, pending = 0, time.monotonic(), []
    try:
        for record in records:
            key = str(record.get("record_id", sent)).encode()
            pending.append(await producer.send(Record.topic, json.dumps(record).encode(), key=key))
            sent += 1
            if len(pending) >= 1000:
                await asyncio.gather(*pending)
                advance(len(pending))
                pending.clear()
            if rate > 0 and (ahead := sent / rate - (time.monotonic() - started)) > 0:
                await asyncio.sleep(ahead)
        await asyncio.gather(*pending)
        advance(len(pending))
    finally:
        await producer.stop()
    return sent
