"""Liveness and readiness: `/api/health/live` and `/api/health`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import msgspec
from litestar import Controller, Response
from litestar.datastructures import State
from litestar.openapi.datastructures import ResponseSpec

from topsmile import __version__
from topsmile.core import db
from topsmile.core.routes import get

Status = Literal["ok", "down"]
_TIMEOUT = 2.0


class Check(msgspec.Struct, omit_defaults=True):
    status: Status
    latencyMs: float
    error: str | None = None


class Health(msgspec.Struct):
    status: Status
    version: str
    checks: dict[str, Check]


class Live(msgspec.Struct):
    status: Status


async def _timed(probe: Callable[[], Awaitable[Any]]) -> Check:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(probe(), _TIMEOUT)
    except Exception as exc:  # any failure of the dependency means "down"
        elapsed = round((time.perf_counter() - started) * 1000, 2)
        return Check("down", elapsed, type(exc).__name__)
    return Check("ok", round((time.perf_counter() - started) * 1000, 2))


class HealthController(Controller):
    path = "/api/health"
    tags = ["health"]

    @get(
        "/",
        operation_id="health",
        summary="Readiness: database and Redis, with latency",
        responses={
            503: ResponseSpec(
                data_container=Health,
                description='A dependency is down: `status: "down"` here and on its check',
            )
        },
    )
    async def health(self, state: State) -> Response[Health]:
        database, redis = await asyncio.gather(
            _timed(lambda: db.fetch("SELECT 1")), _timed(state.redis.ping)
        )
        checks = {"database": database, "redis": redis}
        ok = all(check.status == "ok" for check in checks.values())
        body = Health("ok" if ok else "down", __version__, checks)
        return Response(body, status_code=200 if ok else 503)

    @get("/live", operation_id="healthLive", summary="Liveness: the process answers")
    async def live(self) -> Live:
        return Live("ok")
