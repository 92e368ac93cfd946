"""Rows → wire structs, with what patients may see."""

from __future__ import annotations

from typing import Any

from topsmile.scheduling.schemas import (
    PeriodView,
    ProviderView,
    PublicProviderView,
    ServiceView,
    WorkingIntervalView,
)


def provider_view(row: dict[str, Any], *, staff: bool) -> ProviderView | PublicProviderView:
    if not staff:
        return PublicProviderView(
            id=row["id"],
            first_name=row["first_name"],
            last_name=row["last_name"],
            specialty=row["specialty"],
            service_ids=row["service_ids"],
        )
    return ProviderView(
        id=row["id"],
        first_name=row["first_name"],
        last_name=row["last_name"],
        specialty=row["specialty"],
        service_ids=row["service_ids"],
        email=row["email"],
        user_id=row["user_id"],
        buffer_before_minutes=row["buffer_before_minutes"],
        buffer_after_minutes=row["buffer_after_minutes"],
        active=row["active"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def service_view(row: dict[str, Any]) -> ServiceView:
    return ServiceView(
        id=row["id"],
        name=row["name"],
        description=row["description"],
        duration_minutes=row["duration_minutes"],
        price_amount=row["price_amount"],
        currency=row["currency"],
        buffer_before_minutes=row["buffer_before_minutes"],
        buffer_after_minutes=row["buffer_after_minutes"],
        color=row["color"],
        category=row["category"],
        online_bookable=row["online_bookable"],
        requires_approval=row["requires_approval"],
        active=row["active"],
    )


def period_view(row: dict[str, Any], *, staff: bool) -> PeriodView:
    """A time off or closure; patients see when, not why."""
    return PeriodView(
        id=row["id"],
        start=row["starts_at"],
        end=row["ends_at"],
        reason=row["reason"] if staff else None,
        provider_id=row.get("provider_id"),
    )


def interval_view(row: dict[str, Any]) -> WorkingIntervalView:
    return WorkingIntervalView(weekday=row["weekday"], start=row["start"], end=row["end"])
