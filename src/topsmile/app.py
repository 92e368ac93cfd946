"""The application factory: settings → Litestar app with its lifespan, wrapped at the edge."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import ScalarRenderPlugin, SwaggerRenderPlugin

from topsmile import __version__
from topsmile.accounts.controllers import AuthController
from topsmile.audit.controllers import AuditController
from topsmile.auth.middleware import AuthMiddleware
from topsmile.clinics.controllers import ClinicsController
from topsmile.config import Settings, load_settings
from topsmile.core import db, rows
from topsmile.core.cors import cors_config
from topsmile.core.errors import handle_exception
from topsmile.core.health import HealthController
from topsmile.core.logging import configure_logging
from topsmile.core.middleware import EdgeMiddleware
from topsmile.core.openapi import document_problems
from topsmile.core.redis import create_redis
from topsmile.events import bus
from topsmile.events.relay import Relay, relay_config
from topsmile.notifications.controllers import NotificationsController
from topsmile.patients.controllers import PatientsController
from topsmile.payments.controllers import PaymentsController
from topsmile.reports.controllers import StatsController
from topsmile.runtime import Runtime
from topsmile.scheduling.appointments_controller import AppointmentsController
from topsmile.scheduling.controllers import (
    AvailabilityController,
    ClosuresController,
    ProvidersController,
    PublicController,
    ServicesController,
)
from topsmile.uploads.controllers import UploadsController
from topsmile.users.controllers import UsersController
from topsmile.wiring import build_bus

log = logging.getLogger("topsmile.app")

MAX_JSON_BODY = 1024 * 1024
# Pooled connections for requests, per process; a process that relays adds the relay's own
# (`RelayConfig.connections`), so deliveries never make requests wait for a connection.
REQUEST_CONNECTIONS = 10


async def _warn_if_rls_bypassed() -> None:
    if await rows.exists(
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = current_user"
        " AND (rolsuper OR rolbypassrls)) AS found"
    ):
        log.warning("DATABASE_URL's role can bypass row-level security; use the application role")


@asynccontextmanager
async def lifespan(app: Litestar) -> AsyncIterator[None]:
    """Open the database pool and Redis client for the app's lifetime."""
    settings: Settings = app.state.settings
    assert settings.database_url and settings.redis_url
    config = relay_config(settings)
    relaying = config.connections if app.state.run_relay else 0
    await db.open_pool(settings.database_url, max_size=REQUEST_CONNECTIONS + relaying)
    redis = create_redis(settings.redis_url)
    app.state.redis = redis
    runtime = Runtime.build(settings, redis)
    app.state.runtime = runtime
    runtime.denylist.cache.start()
    event_bus = build_bus(settings)
    bus.install(event_bus)
    relay = Relay(event_bus, config)
    app.state.relay = relay
    if app.state.run_relay:
        relay.start()
    try:
        await _warn_if_rls_bypassed()
        yield
    finally:
        await relay.stop()
        await runtime.denylist.close()
        await runtime.throttle.close()
        await redis.aclose()
        await db.close_pool()


def build_litestar(settings: Settings, *, run_relay: bool = True) -> Litestar:
    if settings.database_url is None or settings.redis_url is None:
        raise RuntimeError("create the app with DATABASE_URL and REDIS_URL resolved")
    app = Litestar(
        route_handlers=[
            HealthController,
            AuthController,
            ProvidersController,
            ServicesController,
            ClosuresController,
            AvailabilityController,
            AppointmentsController,
            StatsController,
            PublicController,
            ClinicsController,
            UsersController,
            AuditController,
            NotificationsController,
            PatientsController,
            UploadsController,
            PaymentsController,
        ],
        middleware=[AuthMiddleware],
        lifespan=[lifespan],
        exception_handlers={Exception: handle_exception},
        request_max_body_size=MAX_JSON_BODY,
        cors_config=cors_config(settings),
        openapi_config=OpenAPIConfig(
            title="TopSmile API",
            version=__version__,
            path="/schema",
            render_plugins=[ScalarRenderPlugin(), SwaggerRenderPlugin(path="/swagger")],
        ),
        state=State({"settings": settings, "run_relay": run_relay}),
        debug=False,
        logging_config=None,
    )
    document_problems(app)
    return app


def create_app(settings: Settings | None = None, *, run_relay: bool = True) -> EdgeMiddleware:
    """Uvicorn's factory (`topsmile.app:create_app`): the whole ASGI app.

    `run_relay=False` leaves outbox delivery to someone else (tests drive it explicitly).
    """
    settings = settings or load_settings()
    configure_logging()
    litestar = build_litestar(settings, run_relay=run_relay)
    return EdgeMiddleware(litestar, production=settings.is_production, cors=cors_config(settings))


def settle_garbage_collector() -> None:
    """Move every object alive after start-up (modules, the app, its routes and schemas, the
    pools) into the collector's permanent generation. Left in the oldest generation, they
    are re-scanned by every full collection: ~150,000 objects, a pause of tens to hundreds of
    milliseconds that stalls every request in flight on the worker (docs/PERFORMANCE.md
    "Mixed load"). They live as long as the process, so freezing them frees nothing less."""
    gc.collect()
    gc.freeze()


def create_served_app(
    settings: Settings | None = None, *, run_relay: bool = True
) -> EdgeMiddleware:
    """`topsmile serve`'s uvicorn factory: `create_app` whose start-up ends by settling the
    garbage collector (one app per worker process; tests and benches that build many apps in
    one process keep `create_app`, whose frozen objects would never be freed)."""
    app = create_app(settings, run_relay=run_relay)
    assert isinstance(app.app, Litestar)
    app.app.on_startup.append(settle_garbage_collector)
    return app
