"""The ingestion service as an ASGI app: Kafka handlers plus ``/health``."""

from functools import partial

from faststream.asgi import AsgiFastStream

from driftloop_runtime import create_service_app

from .handlers import create_router
from .pipeline import Pipeline
from .settings import Settings
from .sweeper import Sweeper

DRAIN_SECONDS = 10.0
"""How long a stopping service lets the batch being stored finish (and commit)."""


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or Settings()
    pipeline = Pipeline(backoff_max=settings.retry_backoff_max_seconds)
    sweeper = Sweeper()
    app = create_service_app(settings, partial(create_router, pipeline=pipeline, sweeper=sweeper))
    # The sweep publishes, so it starts once the broker is up.
    app.after_startup(sweeper.start)
    # Before the broker stops: the batch being stored still commits its offsets.
    app.on_shutdown(partial(pipeline.close, DRAIN_SECONDS))
    app.on_shutdown(sweeper.stop)
    return app
