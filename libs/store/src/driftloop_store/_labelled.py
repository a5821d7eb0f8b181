"""Labelled records as experiments read them: a label comes with its record or later, as
feedback (the ``labels`` table), whichever is known; rows in arrival order (``seq``).
A record sent without a label may hold JSON ``null``: that is no label."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

LabelledRow = tuple[str, int, dict[str, Any], Any]
"""``(record_id, seq, features, label)``."""

_SELECT = """
SELECT r.record_id, r.seq, r.features, COALESCE(NULLIF(r.label, 'null'), l.label) AS label
FROM records r LEFT JOIN labels l ON l.stream = r.stream AND l.record_id = r.record_id
WHERE r.stream = %(stream)s AND COALESCE(NULLIF(r.label, 'null'), l.label) IS NOT NULL
  AND r.seq > %(after_seq)s
  AND (%(since)s::timestamptz IS NULL OR r.event_time >= %(since)s)
  AND (%(until)s::timestamptz IS NULL OR r.event_time < %(until)s)
ORDER BY r.seq DESC
LIMIT %(limit)s
"""


async def labelled_rows(
    conn: AsyncConnection[Any],
    stream: str,
    *,
    last: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_seq: int = 0,
) -> list[LabelledRow]:
    """The newest ``last`` labelled records (all when None) with event time in
    [``since``, ``until``) and ``seq`` above ``after_seq``, oldest first."""
    cur = await conn.execute(
        _SELECT,
        {
            "stream": stream,
            "after_seq": after_seq,
            "since": since,
            "until": until,
            "limit": last,
        },
    )
    rows = await cur.fetchall()
    rows.reverse()
    return [(record_id, seq, features, label) for record_id, seq, features, label in rows]
