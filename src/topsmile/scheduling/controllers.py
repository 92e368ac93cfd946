"""`/api/scheduling` catalogue routes (SPEC §5): thin handlers over providers/catalogue."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler
from litestar.params import FromPath, JSONBody, QueryParameter

from topsmile.auth.middleware import request_ip
from topsmile.auth.principal import ADMIN_MANAGER, Principal, allow, signed_in
from topsmile.core.openapi import problem_response
from topsmile.core.routes import delete, get, patch, post, put
from topsmile.core.schemas import body
from topsmile.runtime import Runtime, runtime_of
from topsmile.scheduling import availability_service, catalogue, providers, public
from topsmile.scheduling.availability_service import AvailabilityQuery
from topsmile.scheduling.schemas import (
    AvailabilityView,
    PeriodCreate,
    PeriodView,
    ProviderCreate,
    ProviderPatch,
    ProviderView,
    PublicClinicView,
    PublicProviderView,
    ServiceCreate,
    ServicePatch,
    ServiceView,
    WorkingInterval,
    WorkingIntervalView,
)
from topsmile.scheduling.views import interval_view, period_view, provider_view, service_view

Req = Request[Principal, Any, Any]
TIME_OFF_WRITERS = allow("admin", "manager", "provider")


class ProvidersController(Controller):
    path = "/api/scheduling/providers"
    tags = ["scheduling: providers"]
    guards = [signed_in]

    @get("/", operation_id="listProviders", summary="Providers (patients: active ones)")
    async def index(self, request: Req) -> list[ProviderView | PublicProviderView]:
        staff = request.user.is_staff
        rows = await providers.list_providers(request.user.actor, active_only=not staff)
        return [provider_view(r, staff=staff) for r in rows]

    @post(
        "/",
        operation_id="createProvider",
        summary="Add a provider",
        guards=[ADMIN_MANAGER],
        **body(ProviderCreate),
    )
    async def create(self, request: Req, data: JSONBody[ProviderCreate]) -> ProviderView:
        row = await providers.create_provider(request.user.actor, data)
        view = provider_view(row, staff=True)
        assert isinstance(view, ProviderView)
        return view

    @get("/{provider_id:uuid}", operation_id="getProvider", summary="One provider")
    async def show(
        self, request: Req, provider_id: FromPath[uuid.UUID]
    ) -> ProviderView | PublicProviderView:
        staff = request.user.is_staff
        row = await providers.get_provider(request.user.actor, provider_id, active_only=not staff)
        return provider_view(row, staff=staff)

    @patch(
        "/{provider_id:uuid}",
        operation_id="updateProvider",
        summary="Change a provider",
        guards=[ADMIN_MANAGER],
        **body(ProviderPatch),
    )
    async def update(
        self, request: Req, provider_id: FromPath[uuid.UUID], data: JSONBody[ProviderPatch]
    ) -> ProviderView:
        view = provider_view(
            await providers.update_provider(request.user.actor, provider_id, data), staff=True
        )
        assert isinstance(view, ProviderView)
        return view

    @delete(
        "/{provider_id:uuid}",
        operation_id="deactivateProvider",
        summary="Deactivate a provider (kept for history)",
        guards=[ADMIN_MANAGER],
    )
    async def deactivate(self, request: Req, provider_id: FromPath[uuid.UUID]) -> None:
        await providers.deactivate_provider(request.user.actor, provider_id)

    @get(
        "/{provider_id:uuid}/working-hours",
        operation_id="getWorkingHours",
        summary="Weekly working hours (wall-clock, clinic zone)",
    )
    async def hours(
        self, request: Req, provider_id: FromPath[uuid.UUID]
    ) -> list[WorkingIntervalView]:
        rows = await providers.get_working_hours(
            request.user.actor, provider_id, active_only=not request.user.is_staff
        )
        return [interval_view(r) for r in rows]

    @put(
        "/{provider_id:uuid}/working-hours",
        operation_id="setWorkingHours",
        summary="Replace the weekly working hours",
        guards=[ADMIN_MANAGER],
        **body(WorkingInterval, many=True),
    )
    async def set_hours(
        self, request: Req, provider_id: FromPath[uuid.UUID], data: JSONBody[list[WorkingInterval]]
    ) -> list[WorkingIntervalView]:
        rows = await providers.set_working_hours(request.user.actor, provider_id, data)
        return [interval_view(r) for r in rows]

    @get(
        "/{provider_id:uuid}/time-off", operation_id="listTimeOff", summary="A provider's time off"
    )
    async def time_off(self, request: Req, provider_id: FromPath[uuid.UUID]) -> list[PeriodView]:
        staff = request.user.is_staff
        rows = await providers.list_time_off(request.user.actor, provider_id, active_only=not staff)
        return [period_view(r, staff=staff) for r in rows]

    @post(
        "/{provider_id:uuid}/time-off",
        operation_id="addTimeOff",
        summary="Add time off",
        guards=[TIME_OFF_WRITERS],
        **body(PeriodCreate),
    )
    async def add_time_off(
        self, request: Req, provider_id: FromPath[uuid.UUID], data: JSONBody[PeriodCreate]
    ) -> PeriodView:
        return period_view(
            await providers.add_time_off(request.user.actor, provider_id, data), staff=True
        )

    @delete(
        "/{provider_id:uuid}/time-off/{time_off_id:uuid}",
        operation_id="removeTimeOff",
        summary="Remove time off",
        guards=[TIME_OFF_WRITERS],
    )
    async def remove_time_off(
        self, request: Req, provider_id: FromPath[uuid.UUID], time_off_id: FromPath[uuid.UUID]
    ) -> None:
        await providers.remove_time_off(request.user.actor, provider_id, time_off_id)


class ServicesController(Controller):
    path = "/api/scheduling/services"
    tags = ["scheduling: services"]
    guards = [signed_in]

    @get("/", operation_id="listServices", summary="Services (patients: bookable online)")
    async def index(self, request: Req) -> list[ServiceView]:
        return [service_view(r) for r in await catalogue.list_services(request.user.actor)]

    @post(
        "/",
        operation_id="createService",
        summary="Add a service",
        guards=[ADMIN_MANAGER],
        **body(ServiceCreate),
    )
    async def create(self, request: Req, data: JSONBody[ServiceCreate]) -> ServiceView:
        return service_view(await catalogue.create_service(request.user.actor, data))

    @get("/{service_id:uuid}", operation_id="getService", summary="One service")
    async def show(self, request: Req, service_id: FromPath[uuid.UUID]) -> ServiceView:
        return service_view(await catalogue.get_service(request.user.actor, service_id))

    @patch(
        "/{service_id:uuid}",
        operation_id="updateService",
        summary="Change a service",
        guards=[ADMIN_MANAGER],
        **body(ServicePatch),
    )
    async def update(
        self, request: Req, service_id: FromPath[uuid.UUID], data: JSONBody[ServicePatch]
    ) -> ServiceView:
        return service_view(await catalogue.update_service(request.user.actor, service_id, data))

    @delete(
        "/{service_id:uuid}",
        operation_id="deactivateService",
        summary="Deactivate a service (kept for history)",
        guards=[ADMIN_MANAGER],
    )
    async def deactivate(self, request: Req, service_id: FromPath[uuid.UUID]) -> None:
        await catalogue.deactivate_service(request.user.actor, service_id)


class ClosuresController(Controller):
    path = "/api/scheduling/closures"
    tags = ["scheduling: closures"]
    guards = [signed_in]

    @get("/", operation_id="listClosures", summary="Clinic-wide closed periods")
    async def index(self, request: Req) -> list[PeriodView]:
        staff = request.user.is_staff
        return [
            period_view(r, staff=staff) for r in await catalogue.list_closures(request.user.actor)
        ]

    @post(
        "/",
        operation_id="createClosure",
        summary="Close the clinic for a period",
        guards=[ADMIN_MANAGER],
        **body(PeriodCreate),
    )
    async def create(self, request: Req, data: JSONBody[PeriodCreate]) -> PeriodView:
        return period_view(await catalogue.add_closure(request.user.actor, data), staff=True)

    @delete(
        "/{closure_id:uuid}",
        operation_id="removeClosure",
        summary="Remove a closure",
        guards=[ADMIN_MANAGER],
    )
    async def remove(self, request: Req, closure_id: FromPath[uuid.UUID]) -> None:
        await catalogue.remove_closure(request.user.actor, closure_id)


ServiceIdParam = Annotated[
    uuid.UUID, QueryParameter(name="serviceId", description="The service to book.")
]
ProviderIdParam = Annotated[
    uuid.UUID | None,
    QueryParameter(name="providerId", description="One provider; omitted: every provider."),
]
_DAY = "A clinic-local date YYYY-MM-DD (inclusive); at most 31 days from `from` to `to`."
FromDay = Annotated[str | None, QueryParameter(name="from", description=_DAY + " Default today.")]
ToDay = Annotated[str | None, QueryParameter(name="to", description=_DAY + " Default from + 6.")]


class AvailabilityController(Controller):
    path = "/api/scheduling/availability"
    tags = ["scheduling: availability"]
    guards = [signed_in]

    @get(
        "/",
        operation_id="getAvailability",
        summary="Free slots of a service (patients: online-bookable services, patient rules)",
        responses={404: problem_response(404)},
    )
    async def index(
        self,
        request: Req,
        service_id: ServiceIdParam,
        provider_id: ProviderIdParam = None,
        from_: FromDay = None,
        to: ToDay = None,
    ) -> AvailabilityView:
        query = AvailabilityQuery(service_id, provider_id, from_, to)
        return await availability_service.availability(request.user.actor, query)


async def public_throttle(
    connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler
) -> None:
    """Guards run before parameters are parsed: every request counts, 400s and 404s too."""
    rt: Runtime = connection.app.state.runtime
    await public.count_visit(rt, request_ip(connection.scope, rt))


class PublicController(Controller):
    """The clinic's booking page before sign-in: no session, throttled per client IP."""

    path = "/api/public/clinics"
    tags = ["public"]
    guards = [public_throttle]

    @get("/{slug:str}", operation_id="getPublicClinic", summary="A clinic's booking page")
    async def show(self, request: Req, slug: FromPath[str]) -> PublicClinicView:
        ip = request_ip(request.scope, runtime_of(request))
        return await public.clinic_page(slug, ip=ip)

    @get(
        "/{slug:str}/availability",
        operation_id="getPublicAvailability",
        summary="Free slots of a clinic's service, as its patients see them",
    )
    async def availability(
        self,
        request: Req,
        slug: FromPath[str],
        service_id: ServiceIdParam,
        provider_id: ProviderIdParam = None,
        from_: FromDay = None,
        to: ToDay = None,
    ) -> AvailabilityView:
        query = AvailabilityQuery(service_id, provider_id, from_, to)
        ip = request_ip(request.scope, runtime_of(request))
        return await public.clinic_availability(slug, query, ip=ip)
