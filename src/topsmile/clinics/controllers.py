"""`/api/clinics` and `/api/clinic` (SPEC §4): thin handlers over the service."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED

from topsmile.auth.cookies import session_response
from topsmile.auth.middleware import request_ip
from topsmile.auth.origin import not_cross_site
from topsmile.auth.principal import ADMIN, Principal, signed_in
from topsmile.clinics import service
from topsmile.clinics.schemas import (
    ClinicPatch,
    ClinicSignup,
    ClinicView,
    SignupResult,
    clinic_view,
)
from topsmile.core.routes import get, patch, post
from topsmile.core.schemas import body
from topsmile.runtime import runtime_of
from topsmile.users.schemas import user_view

Req = Request[Principal, Any, Any]


class ClinicsController(Controller):
    path = "/api"
    tags = ["clinics"]

    @post(
        "/clinics",
        operation_id="signupClinic",
        summary="Sign up a clinic and its first admin",
        description="Public while TOPSMILE_ALLOW_SIGNUP is on (403 otherwise); throttled per"
        " client IP. Answers with the admin's session cookies.",
        status_code=HTTP_201_CREATED,
        guards=[not_cross_site],
        **body(ClinicSignup),
    )
    async def signup(self, request: Req, data: JSONBody[ClinicSignup]) -> Response[SignupResult]:
        rt = runtime_of(request)
        result = await service.signup(
            rt,
            data,
            ip=request_ip(request.scope, rt),
            user_agent=request.headers.get("user-agent"),
        )
        content = SignupResult(clinic=clinic_view(result.clinic), user=user_view(result.admin))
        return session_response(rt, result.tokens, content, HTTP_201_CREATED)

    @get("/clinic", operation_id="getClinic", summary="The caller's clinic", guards=[signed_in])
    async def show(self, request: Req) -> ClinicView:
        return clinic_view(await service.get_clinic(request.user.actor))

    @patch(
        "/clinic",
        operation_id="updateClinic",
        summary="Change the clinic (settings merge: only the keys sent change)",
        guards=[ADMIN],
        **body(ClinicPatch),
    )
    async def update(self, request: Req, data: JSONBody[ClinicPatch]) -> ClinicView:
        rt = runtime_of(request)
        return clinic_view(await service.update_clinic(rt, request.user.actor, data))
