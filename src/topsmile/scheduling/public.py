"""Public browsing (SPEC §6): a clinic's booking page before anyone signs in.

No session: the clinic comes from the slug in the path and the caller is an anonymous actor
of that clinic (no role, so patient rules and patient visibility apply). Every request is
counted against the per-IP limit before anything else (`count_visit`, the controller's guard,
which runs before query parameters are parsed), so bad requests and unknown slugs count too.
"""

from __future__ import annotations

import uuid

from topsmile.clinics import queries as clinics
from topsmile.clinics.tables import ClinicRow
from topsmile.core import db
from topsmile.core.actor import Actor
from topsmile.core.errors import NotFound
from topsmile.core.throttle import ip_throttle_key
from topsmile.runtime import Runtime
from topsmile.scheduling import catalogue, providers
from topsmile.scheduling.availability_service import AvailabilityQuery, availability
from topsmile.scheduling.schemas import (
    AvailabilityView,
    PublicClinic,
    PublicClinicView,
    PublicProviderView,
)
from topsmile.scheduling.views import service_view


async def count_visit(rt: Runtime, ip: str) -> None:
    """One request of `ip` against `TOPSMILE_RATE_PUBLIC_PER_IP`; 429 over it."""
    await rt.throttle.enforce(ip_throttle_key("public-ip", ip), rt.settings.rate_public_per_ip)


# slug -> clinic id, remembered per process: a clinic's slug never changes and clinics are
# never deleted, so an entry cannot go stale; unknown slugs are not remembered (a clinic may
# sign up under one a moment later). Bounded: cleared when full.
_CLINIC_IDS: dict[str, uuid.UUID] = {}
_CLINIC_IDS_MAX = 10_000


async def _visit(slug: str, ip: str) -> Actor:
    """The anonymous actor of the clinic's page."""
    clinic_id = _CLINIC_IDS.get(slug)
    if clinic_id is None:
        clinic: ClinicRow | None = await clinics.clinic_by_slug(slug)
        if clinic is None:
            raise NotFound("No such clinic.")
        if len(_CLINIC_IDS) >= _CLINIC_IDS_MAX:
            _CLINIC_IDS.clear()
        clinic_id = _CLINIC_IDS[slug] = clinic.id
    return Actor(clinic_id, None, None, ip)


async def clinic_page(slug: str, *, ip: str) -> PublicClinicView:
    """The clinic, its active online-bookable services and the active providers offering
    them (each with only those services' ids)."""
    actor = await _visit(slug, ip)
    async with db.tenant_transaction(actor.clinic_id):
        clinic = await clinics.clinic_by_id(actor.clinic_id)
        services = await catalogue.list_services(actor)
        staff = await providers.list_providers(actor, active_only=True)
    bookable = {s.id for s in services}
    listed = [
        PublicProviderView(
            id=row.id,
            first_name=row.first_name,
            last_name=row.last_name,
            specialty=row.specialty,
            service_ids=offered,
        )
        for row in staff
        if (offered := [sid for sid in row.service_ids if sid in bookable])
    ]
    return PublicClinicView(
        clinic=PublicClinic(
            name=clinic.name, slug=clinic.slug, timezone=clinic.timezone, currency=clinic.currency
        ),
        services=[service_view(s) for s in services],
        providers=listed,
    )


async def clinic_availability(slug: str, query: AvailabilityQuery, *, ip: str) -> AvailabilityView:
    """The same answer a patient of the clinic gets."""
    return await availability(await _visit(slug, ip), query)
