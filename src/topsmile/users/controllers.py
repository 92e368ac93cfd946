"""`/api/users` (SPEC §4): thin handlers over `users.service`."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request
from litestar.params import FromPath, JSONBody

from topsmile.auth.principal import ADMIN, ADMIN_MANAGER, Principal
from topsmile.core import ranges
from topsmile.core.routes import get, patch, post
from topsmile.core.schemas import Page, body
from topsmile.runtime import runtime_of
from topsmile.users import service
from topsmile.users.schemas import StaffUserCreate, StaffUserPatch, UserView, user_view

Req = Request[Principal, Any, Any]


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
        page: ranges.Page = 1,
        pageSize: ranges.PageSize = 20,  # wire names: see core.ranges
    ) -> Page[UserView]:
        rows, total = await service.list_users(request.user.actor, page=page, page_size=pageSize)
        return Page(items=[user_view(r) for r in rows], total=total, page=page, page_size=pageSize)

    @post(
        "/",
        operation_id="createUser",
        summary="Add a staff user",
        guards=[ADMIN],
        **body(StaffUserCreate),
    )
    async def create(self, request: Req, data: JSONBody[StaffUserCreate]) -> UserView:
        rt = runtime_of(request)
        return user_view(await service.create_user(rt.hasher, data, actor=request.user.actor))

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
            await service.update_user(runtime_of(request), request.user.actor, user_id, data)
        )
