"""The shape every FastStream service shares: a Kafka broker, the store, ``/health``, uvicorn."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import uvicorn
from faststream.asgi import AsgiFastStream, AsgiResponse, get
from faststream.kafka import KafkaBroker, KafkaRouter
from faststream.kafka.publisher import DefaultPublisher

from driftloop_contracts import Event

from .resources import Resources
from .settings import ServiceSettings, SettingsT

logger = logging.getLogger("driftloop")


def configure_logging(settings: ServiceSettings) -> None:
    logging.basicConfig(
        level=settings.log_level.upper(),
        format=f"%(asctime)s %(levelname)s {settings.service} %(name)s: %(message)s",
    )


def create_broker(settings: ServiceSettings) -> KafkaBroker:
    """A broker object; it connects only when the app starts."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=f"driftloop-{settings.service}-{settings.instance}",
        logger=logging.getLogger(f"driftloop.{settings.service}.kafka"),
    )


def publisher(router: KafkaRouter, event: type[Event], service: str) -> DefaultPublisher:
    """Declare that ``service`` publishes ``event``; AsyncAPI lists it under that name."""
    name = event.__name__
    return router.publisher(
        event.topic,
        schema=event,
        title=f"{service}:to_{event.topic.removeprefix('driftloop.').replace('.', '_')}",
        description=(event.__doc__ or name).strip().splitlines()[0],
    )


async def check_health(
    broker: KafkaBroker, resources: Resources[Any]
) -> tuple[int, dict[str, Any]]:
    """The status code and body of ``GET /health``: 200 when Kafka and PostgreSQL answer,
    503 naming what does not."""
    checks = {"kafka": await broker.ping(timeout=2.0), "database": await resources.database_ok()}
    ok = all(checks.values())
    body = {
        "service": resources.settings.service,
        "instance": resources.settings.instance,
        "status": "ok" if ok else "unhealthy",
        **checks,
    }
    return (200 if ok else 503), body


def health_route(broker: KafkaBroker, resources: Resources[Any]) -> tuple[str, Any]:
    @get(description="Kafka and PostgreSQL reachable from this service.")
    async def health(scope: Any) -> AsgiResponse:
        status, body = await check_health(broker, resources)
        return AsgiResponse(
            json.dumps(body).encode(), status, headers={"content-type": "application/json"}
        )

    return "/health", health


@get(description="The process answers: for liveness probes, which must not restart on outages.")
async def live(scope: Any) -> AsgiResponse:
    return AsgiResponse(b"", 204)


def create_service_app(
    settings: SettingsT, create_router: Callable[[Resources[SettingsT]], KafkaRouter]
) -> AsgiFastStream:
    """The ASGI app of a FastStream service: the store opens before the broker starts."""
    broker = create_broker(settings)
    resources = Resources(settings)
    broker.include_router(create_router(resources))
    return AsgiFastStream(
        broker,
        asgi_routes=[health_route(broker, resources), ("/live", live)],
        on_startup=[resources.start],
        after_shutdown=[resources.stop],
        logger=logging.getLogger(f"driftloop.{settings.service}"),
    )


def serve(app: Any, settings: ServiceSettings) -> None:
    """Run ``app`` under uvicorn until SIGINT/SIGTERM; uvicorn drains and runs shutdown hooks."""
    configure_logging(settings)
    logger.info(
        "%s starting on http://%s:%d (kafka %s)",
        settings.service,
        settings.host,
        settings.http_port,
        settings.kafka_bootstrap_servers,
    )
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.http_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        lifespan="on",
    )
