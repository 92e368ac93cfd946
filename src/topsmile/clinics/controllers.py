"""`/api/clinics`, `/api/clinic` and `/api/users` (SPEC §4): thin handlers over the service."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, patch, post
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_201_CREATED

from topsmile.auth.controllers import runtime_of, session_response
from topsmile.auth.middleware import request_ip
from topsmile.auth.origin import not_cross_site
from topsmile.auth.principal import ADMIN, ADMIN_MANAGER, Principal, signed_in
from topsmile.clinics import service
from topsmile.clinics.schemas import (
    ClinicPatch,
    ClinicSignup,
    ClinicView,
    SignupResult,
    StaffUserCreate,
    StaffUserPatch,
    UserPage,
    UserView,
    clinic_view,
    user_view,
)
from topsmile.core.ranges import Page, PageSize
from topsmile.core.schemas import body

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
        content = SignupResult(clinic=clinic_view(result.clinic), user=user_view(result.user))
        return session_response(rt, result, content, HTTP_201_CREATED)

    @get("/clinic", operation_id="getClinic", summary="The caller's clinic", guards=[signed_in])
    async def show(self, request: Req) -> ClinicView:
        return clinic_view(await service.get_clinic(request.user))

    @patch(
        "/clinic",
        operation_id="updateClinic",
        summary="Change the clinic (settings merge: only the keys sent change)",
        guards=[ADMIN],
        **body(ClinicPatch),
    )
    async def update(self, request: Req, data: JSONBody[ClinicPatch]) -> ClinicView:
        return clinic_view(await service.update_clinic(request.user, data))


class UsersController(Controller):
    path = "/api/users"
    tags = ["users"]

    @get(
        "/",
        operation_id="listUsers",
        summary="The clinic's staff users, oldest first",
        guards=[ADMIN_MANAGER],
    )
    async def index(
        self,
        request: Req,
        page: Page = 1,
        pageSize: PageSize = 20,  # wire names: see core.ranges
    ) -> UserPage:
        rows, total = await service.list_users(request.user, page=page, page_size=pageSize)
        return UserPage(
            items=[user_view(r) for r in rows], total=total, page=page, page_size=pageSize
        )

    @post(
        "/",
        operation_id="createUser",
        summary="Add a staff user",
        guards=[ADMIN],
        **body(StaffUserCreate),
    )
    async def create(self, request: Req, data: JSONBody[StaffUserCreate]) -> UserView:
        rt = runtime_of(request)
        return user_view(
            await service.create_user(rt.hasher, request.user.clinic_id, data, actor=request.user)
        )

    @patch(
        "/{user_id:uuid}",
        operation_id="updateUser",
        summary="Change a staff user's role, status or names",
        description="Deactivating a user signs them out everywhere. The clinic's last active"
        " admin cannot be demoted or deactivated (409).",
        guards=[ADMIN],
        **body(StaffUserPatch),
    )
    async def update(
        self, request: Req, user_id: FromPath[uuid.UUID], data: JSONBody[StaffUserPatch]
    ) -> UserView:
        return user_view(
            await service.update_user(runtime_of(request), request.user, user_id, data)
        )
