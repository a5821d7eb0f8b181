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
from .outbox import Outbox, Send, Transaction
from .raw import Message, as_raw, batch_schema, parse_event
from .resources import Resources, StoreNotOpen
from .settings import ServiceSettings, SettingsT

__all__ = [
    "Message",
    "Outbox",
    "Resources",
    "Send",
    "ServiceSettings",
    "SettingsT",
    "StoreNotOpen",
    "Transaction",
    "as_raw",
    "batch_schema",
    "check_health",
    "configure_logging",
    "create_broker",
    "create_service_app",
    "health_route",
    "parse_event",
    "publisher",
    "serve",
]
