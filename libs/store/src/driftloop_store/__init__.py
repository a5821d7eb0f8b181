"""The knowledge store: PostgreSQL schema, migrations and typed queries (psycopg 3).

Open a pool in the service's lifespan, migrating on the way in::

    async with open_pool(settings.database_url, migrate=True) as pool:
        async with pool.connection() as conn:
            stream = await get_stream(conn, "orders")

Nothing here connects at import time.
"""

from ._artifacts import first_handling, get_artifact, put_artifact
from ._labelled import LabelledRow, labelled_rows
from ._migrate import (
    Migration,
    MigrationError,
    applied_migrations,
    load_migrations,
    migrate,
    migrate_url,
)
from ._outbox import OutboxEvent, claim_stale, delete, enqueue
from ._pool import Pool, open_pool
from ._queries import (
    current_champion,
    get_stream,
    list_streams,
    record_human_action,
    register_stream,
)
from ._rows import HumanActionRow, JsonObject, ModelRow, OutboxRow, ServingRow, StreamRow

__all__ = [
    "HumanActionRow",
    "JsonObject",
    "LabelledRow",
    "Migration",
    "MigrationError",
    "ModelRow",
    "OutboxEvent",
    "OutboxRow",
    "Pool",
    "ServingRow",
    "StreamRow",
    "applied_migrations",
    "claim_stale",
    "current_champion",
    "delete",
    "enqueue",
    "first_handling",
    "get_artifact",
    "get_stream",
    "labelled_rows",
    "list_streams",
    "load_migrations",
    "migrate",
    "migrate_url",
    "open_pool",
    "put_artifact",
    "record_human_action",
    "register_stream",
]
