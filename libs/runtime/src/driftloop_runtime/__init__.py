"""What every driftloop service shares: settings, store resources, broker, ``/health``, uvicorn."""

from .app import (
    check_health,
    configure_logging,
    create_broker,
    create_service_app,
    health_route,
    publisher,
    serve,
)
from .consume import consume_batches
from .outbox import Outbox, Send, Transaction
from .raw import (
    REFUSALS,
    Message,
    as_raw,
    as_raw_one,
    batch_schema,
    message_schema,
    parse_event,
    unless_refused,
)
from .resources import Resources, StoreNotOpen
from .settings import ServiceSettings, SettingsT

__all__ = [
    "REFUSALS",
    "Message",
    "Outbox",
    "Resources",
    "Send",
    "ServiceSettings",
    "SettingsT",
    "StoreNotOpen",
    "Transaction",
    "as_raw",
    "as_raw_one",
    "batch_schema",
    "check_health",
    "configure_logging",
    "consume_batches",
    "create_broker",
    "create_service_app",
    "health_route",
    "message_schema",
    "parse_event",
    "publisher",
    "serve",
    "unless_refused",
]
