"""Rows → wire structs, with what patients may see."""

from __future__ import annotations

from topsmile.scheduling.catalogue import ServiceWithCurrency
from topsmile.scheduling.providers import ProviderWithServices
from topsmile.scheduling.schemas import (
    AppointmentView,
    HistoryView,
    PeriodView,
    ProviderView,
    PublicProviderView,
    ServiceView,
    WorkingIntervalView,
)
from topsmile.scheduling.tables import (
    AppointmentHistoryRow,
    AppointmentRow,
    ClosureRow,
    TimeOffRow,
    WorkingHoursRow,
)


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


def appointment_view(row: AppointmentRow) -> AppointmentView:
    return AppointmentView(
        id=row.id,
        clinic_id=row.clinic_id,
        patient_id=row.patient_id,
        provider_id=row.provider_id,
        service_id=row.service_id,
        start=row.starts_at,
        end=row.ends_at,
        status=row.status,
        notes=row.notes,
        price_amount=row.price_amount,
        currency=row.currency,
        payment_status=row.payment_status,
        cancellation_reason=row.cancellation_reason,
        cancelled_at=row.cancelled_at,
        late_cancellation=row.late_cancellation,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def history_view(row: AppointmentHistoryRow) -> HistoryView:
    return HistoryView(
        at=row.at,
        actor_id=row.actor_id,
        action=row.action,
        from_status=row.from_status,
        to_status=row.to_status,
        old_start=row.old_start,
        new_start=row.new_start,
        reason=row.reason,
    )
