"""The training service as an ASGI app: Kafka handlers plus ``/health``."""

from functools import partial

from faststream.asgi import AsgiFastStream

from driftloop_runtime import create_service_app

from .handlers import create_router
from .settings import Settings
from .worker import Trainer


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or Settings()
    trainer = Trainer(settings)
    app = create_service_app(settings, partial(create_router, trainer=trainer))
    # The outbox sweep publishes, so it runs while the broker is up: after it starts,
    # until before it stops.
    app.after_startup(trainer.start)
    app.on_shutdown(trainer.stop)
    return app
