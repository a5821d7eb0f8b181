"""What every driftloop service shares: settings, store resources, broker, ``/health``, uvicorn."""

from .app import (
    configure_logging,
    create_broker,
    create_service_app,
    health_route,
    publisher,
    serve,
)
from .resources import Resources, StoreNotOpen
from .settings import ServiceSettings

__all__ = [
    "Resources",
    "ServiceSettings",
    "StoreNotOpen",
    "configure_logging",
    "create_broker",
    "create_service_app",
    "health_route",
    "publisher",
    "serve",
]
