"""The training service as an ASGI app: Kafka handlers plus ``/health``."""

from faststream.asgi import AsgiFastStream

from driftloop_runtime import create_service_app

from .handlers import create_router
from .settings import Settings


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    return create_service_app(settings or Settings(), create_router)
