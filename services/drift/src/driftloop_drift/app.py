"""The drift service as an ASGI app: Kafka handlers, ``/health`` and ``/streams``."""

import json
from functools import partial
from typing import Any

from faststream.asgi import AsgiFastStream, AsgiResponse, get

from driftloop_runtime import create_service_app

from .handlers import create_router
from .service import Drift
from .settings import Settings


def create_app(settings: Settings | None = None) -> AsgiFastStream:
    settings = settings or Settings()
    drift = Drift(settings)
    app = create_service_app(settings, partial(create_router, drift=drift))
    # The notifier records deliveries in the store, so it opens after the store (the
    # runtime's own start hook comes first) and closes before it.
    app.on_startup(drift.start)
    app.on_shutdown(drift.stop)

    @get(description="Per watched stream: records seen, alarms raised, what is watched.")
    async def streams(scope: Any) -> AsgiResponse:
        body = json.dumps(drift.status()).encode()
        return AsgiResponse(body, 200, headers={"content-type": "application/json"})

    app.mount("/streams", streams)
    return app
