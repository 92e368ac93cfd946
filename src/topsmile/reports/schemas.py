"""What the reports answer (SPEC §6 stats)."""

from __future__ import annotations

import uuid

from topsmile.core.schemas import Output


class AppointmentCounts(Output):
    total: int
    by_status: dict[str, int]


class Utilization(Output):
    provider_id: uuid.UUID
    booked_minutes: int
    working_minutes: int


class Revenue(Output):
    paid_amount: int
    refunded_amount: int
    currency: str


class StatsView(Output):
    """`GET /api/scheduling/stats`: rates are fractions 0..1 of `appointments.total`."""

    appointments: AppointmentCounts
    no_show_rate: float
    cancellation_rate: float
    late_cancellation_rate: float
    utilization: list[Utilization]
    revenue: Revenue
    new_patients: int
