"""`GET /api/scheduling/stats` (SPEC §6): staff only; providers read it too (SPEC §2)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request

from topsmile.auth.principal import STAFF, Principal
from topsmile.core import ranges
from topsmile.core.routes import get
from topsmile.reports import stats
from topsmile.reports.schemas import StatsView


class StatsController(Controller):
    path = "/api/scheduling/stats"
    tags = ["scheduling: stats"]
    guards = [STAFF]

    @get(
        "/",
        operation_id="getSchedulingStats",
        summary="Clinic numbers over a range (default: the current clinic-local month)",
    )
    async def get_stats(
        self,
        request: Request[Principal, Any, Any],
        from_: ranges.From = None,
        to: ranges.To = None,
    ) -> StatsView:
        return await stats.stats(request.user.actor, from_, to)
