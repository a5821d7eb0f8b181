"""The scheduler service as an ASGI app: Kafka handlers, the background pass, ``/health``."""

from functools import partial

from faststream.asgi import AsgiFastStream

from driftloop_runtime import create_service_app

from .handlers import create_router
from .service import Scheduler
from .settings import Settings


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or Settings()
    scheduler = Scheduler(settings)
    app = create_service_app(settings, partial(create_router, scheduler=scheduler))
    # The background pass publishes, so it starts once the broker is up and stops before
    # the broker and the store close.
    app.after_startup(scheduler.start)
    app.on_shutdown(scheduler.stop)
    return app
