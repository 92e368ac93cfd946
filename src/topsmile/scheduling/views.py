"""Rows → wire structs, with what patients may see."""

from __future__ import annotations

from topsmile.scheduling.catalogue import ServiceWithCurrency
from topsmile.scheduling.providers import ProviderWithServices
from topsmile.scheduling.schemas import (
    PeriodView,
    ProviderView,
    PublicProviderView,
    ServiceView,
    WorkingIntervalView,
)
from topsmile.scheduling.tables import ClosureRow, TimeOffRow, WorkingHoursRow


def provider_view(row: ProviderWithServices, *, staff: bool) -> ProviderView | PublicProviderView:
    if not staff:
        return PublicProviderView(
            id=row.id,
            first_name=row.first_name,
            last_name=row.last_name,
            specialty=row.specialty,
            service_ids=row.service_ids,
        )
    return ProviderView(
        id=row.id,
        first_name=row.first_name,
        last_name=row.last_name,
        specialty=row.specialty,
        service_ids=row.service_ids,
        email=row.email,
        user_id=row.user_id,
        buffer_before_minutes=row.buffer_before_minutes,
        buffer_after_minutes=row.buffer_after_minutes,
        active=row.active,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def service_view(row: ServiceWithCurrency) -> ServiceView:
    return ServiceView(
        id=row.id,
        name=row.name,
        description=row.description,
        duration_minutes=row.duration_minutes,
        price_amount=row.price_amount,
        currency=row.currency,
        buffer_before_minutes=row.buffer_before_minutes,
        buffer_after_minutes=row.buffer_after_minutes,
        color=row.color,
        category=row.category,
        online_bookable=row.online_bookable,
        requires_approval=row.requires_approval,
        active=row.active,
    )


def period_view(row: TimeOffRow | ClosureRow, *, staff: bool) -> PeriodView:
    """A time off or closure; patients see when, not why."""
    return PeriodView(
        id=row.id,
        start=row.starts_at,
        end=row.ends_at,
        reason=row.reason if staff else None,
        provider_id=row.provider_id if isinstance(row, TimeOffRow) else None,
    )


def _wall(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def interval_view(row: WorkingHoursRow) -> WorkingIntervalView:
    """Stored as minutes since midnight, sent as wall-clock "HH:MM" (end may be "24:00")."""
    return WorkingIntervalView(
        weekday=row.weekday, start=_wall(row.start_minute), end=_wall(row.end_minute)
    )
