"""The evaluation service as an ASGI app: Kafka handlers plus ``/health``."""

from functools import partial

from faststream.asgi import AsgiFastStream

from driftloop_runtime import create_service_app

from .handlers import create_router
from .service import Evaluation
from .settings import Settings


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or Settings()
    evaluation = Evaluation(settings)
    app = create_service_app(settings, partial(create_router, evaluation=evaluation))
    # The notifier records deliveries in the store, so it opens after the store (the
    # runtime's own start hook comes first) and closes before it; the outbox sweep
    # publishes, so it starts once the broker is connected.
    app.on_startup(evaluation.start)
    app.after_startup(evaluation.started)
    app.on_shutdown(evaluation.stop)
    return app
