"""The evaluation service as an ASGI app: Kafka handlers plus ``/health``."""

from faststream.asgi import AsgiFastStream

from driftloop_runtime import Resources, create_broker, create_service_app

from .handlers import create_router
from .settings import Settings


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or Settings()
    broker = create_broker(settings)
    resources = Resources(settings)
    broker.include_router(create_router(resources))
    return create_service_app(settings, broker, resources)
