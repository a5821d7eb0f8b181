"""The ``alerts`` table: one row per delivery (alert x hook), written as it progresses.

Each write takes its own short transaction from the pool, bounded in time, and a failed
write is logged and forgotten: a database outage must not hold back the alerts themselves.
"""

from __future__ import annotations

import asyncio
import logging

from driftloop_store import Pool

from ._delivery import Delivery, Status

logger = logging.getLogger("driftloop_alerts")

# A stream nobody registered (an alert about rejected records, say) would break the
# foreign key; its row then has no stream, and the payload still names it.
_INSERT = """
INSERT INTO alerts (kind, stream, url, payload, status, attempts, last_error, delivered_at)
VALUES (%s, (SELECT name FROM streams WHERE name = %s), %s, %s::jsonb, %s, %s, %s,
        CASE WHEN %s = 'delivered' THEN now() END)
RETURNING id
"""

_UPDATE = """
UPDATE alerts
SET status = %s, attempts = %s, last_error = %s,
    delivered_at = CASE WHEN %s = 'delivered' THEN now() ELSE delivered_at END
WHERE id = %s
"""


async def record(pool: Pool, delivery: Delivery, status: Status, timeout: float) -> None:
    """Insert the delivery's row, or update it once it has one."""
    try:
        async with asyncio.timeout(timeout), pool.connection(timeout=timeout) as conn:
            if delivery.row_id is None:
                alert = delivery.alert
                cur = await conn.execute(
                    _INSERT,
                    (
                        alert.kind,
                        alert.stream,
                        delivery.hook.url,
                        delivery.body.decode(),
                        status,
                        delivery.attempts,
                        delivery.last_error,
                        status,
                    ),
                )
                row = await cur.fetchone()
                delivery.row_id = int(row[0]) if row else None
            else:
                await conn.execute(
                    _UPDATE,
                    (status, delivery.attempts, delivery.last_error, status, delivery.row_id),
                )
    except Exception as exc:
        logger.warning(
            "could not record %s alert %s for %s as %s: %s",
            delivery.alert.kind,
            delivery.alert.id,
            delivery.hook.origin,
            status,
            exc,
        )
