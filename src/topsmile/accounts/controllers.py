"""`/api/auth`: thin handlers over `accounts.service` and `accounts.self_service`."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response
from litestar.params import FromPath, JSONBody
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from topsmile.accounts import self_service as accounts
from topsmile.accounts import service
from topsmile.accounts.schemas import (
    ChangePassword,
    Forgot,
    Login,
    Me,
    Register,
    Registered,
    ResetPassword,
    SessionView,
    VerifyEmail,
)
from topsmile.accounts.service import SignedIn
from topsmile.auth import cookies
from topsmile.auth.cookies import session_response
from topsmile.auth.middleware import request_ip
from topsmile.auth.origin import not_cross_site
from topsmile.auth.principal import Principal, signed_in
from topsmile.clinics.schemas import clinic_view
from topsmile.core.errors import NotFound
from topsmile.core.openapi import problem_response
from topsmile.core.routes import delete, get, post
from topsmile.core.schemas import body
from topsmile.patients.schemas import patient_view
from topsmile.runtime import runtime_of
from topsmile.users.schemas import user_view

Req = Request[Any, Any, Any]


def me_body(result: SignedIn) -> Me:
    return Me(user=user_view(result.user), clinic=clinic_view(result.clinic))


class AuthController(Controller):
    path = "/api/auth"
    tags = ["auth"]

    @post(
        "/register",
        operation_id="authRegister",
        summary="Patient self-signup",
        guards=[not_cross_site],
        responses={404: problem_response(404)},  # no clinic has the slug
        **body(Register),
    )
    async def register(self, request: Req, data: JSONBody[Register]) -> Response[Registered]:
        rt = runtime_of(request)
        result, patient = await accounts.register(
            rt,
            clinic_slug=data.clinic,
            email=data.email,
            password=data.password,
            first_name=data.first_name,
            last_name=data.last_name,
            phone=data.phone,
            date_of_birth=data.date_of_birth,
            ip=request_ip(request.scope, rt),
            user_agent=request.headers.get("user-agent"),
        )
        own = patient_view(patient, staff=False) if patient is not None else None
        content = Registered(user=user_view(result.user), patient=own)
        return session_response(rt, result.tokens, content, 201)

    @post(
        "/login",
        operation_id="authLogin",
        summary="Sign in",
        status_code=200,
        guards=[not_cross_site],
        **body(Login),
    )
    async def login(self, request: Req, data: JSONBody[Login]) -> Response[Me]:
        rt = runtime_of(request)
        result = await service.login(
            rt,
            clinic_slug=data.clinic,
            email=data.email,
            password=data.password,
            ip=request_ip(request.scope, rt),
            user_agent=request.headers.get("user-agent"),
        )
        return session_response(rt, result.tokens, me_body(result))

    @post(
        "/refresh",
        operation_id="authRefresh",
        summary="Rotate the refresh token",
        status_code=200,
        guards=[not_cross_site],
    )
    async def refresh(self, request: Req) -> Response[Me]:
        rt = runtime_of(request)
        token = request.cookies.get(cookies.names(rt.settings).refresh, "")
        result = await service.refresh(
            rt,
            token,
            ip=request_ip(request.scope, rt),
            user_agent=request.headers.get("user-agent"),
        )
        return session_response(rt, result.tokens, me_body(result))

    @post(
        "/logout",
        operation_id="authLogout",
        summary="Sign out this session",
        status_code=HTTP_204_NO_CONTENT,
        guards=[not_cross_site],
    )
    async def logout(self, request: Req) -> Response[None]:
        rt = runtime_of(request)
        principal = request.scope.get("user")
        await service.logout(
            rt,
            principal=principal if isinstance(principal, Principal) else None,
            refresh_token=request.cookies.get(cookies.names(rt.settings).refresh),
        )
        return cookies.with_cookies(
            Response(None, status_code=204), cookies.cleared_cookies(rt.settings)
        )

    @post(
        "/logout-all",
        operation_id="authLogoutAll",
        summary="Sign out every session",
        status_code=HTTP_204_NO_CONTENT,
        guards=[signed_in],
    )
    async def logout_all(self, request: Req) -> Response[None]:
        rt = runtime_of(request)
        await service.logout_all(rt, request.user)
        return cookies.with_cookies(
            Response(None, status_code=204), cookies.cleared_cookies(rt.settings)
        )

    @get("/me", operation_id="authMe", summary="The signed-in user and clinic", guards=[signed_in])
    async def me(self, request: Req) -> Me:
        return await service.me_view(request.user)

    @get("/sessions", operation_id="authSessions", summary="My live sessions", guards=[signed_in])
    async def sessions(self, request: Req) -> list[SessionView]:
        principal: Principal = request.user
        rows = await service.list_sessions(principal)
        return [
            SessionView(
                id=r.id,
                created_at=r.created_at,
                last_used_at=r.last_used_at,
                user_agent=r.user_agent,
                ip=r.ip,
                current=r.id == principal.session_id,
            )
            for r in rows
        ]

    @delete(
        "/sessions/{session_id:uuid}",
        operation_id="authRevokeSession",
        summary="Sign out one of my sessions",
        guards=[signed_in],
    )
    async def revoke_session(self, request: Req, session_id: FromPath[uuid.UUID]) -> None:
        if not await service.revoke_session(runtime_of(request), request.user, session_id):
            raise NotFound("No such session.")

    @post(
        "/verify-email",
        operation_id="authVerifyEmail",
        summary="Confirm an email address",
        status_code=HTTP_204_NO_CONTENT,
        guards=[not_cross_site],
        **body(VerifyEmail),
    )
    async def verify_email(self, request: Req, data: JSONBody[VerifyEmail]) -> None:
        await accounts.verify_email(runtime_of(request), data.token)

    @post(
        "/password/forgot",
        operation_id="authPasswordForgot",
        summary="Email a reset link",
        status_code=HTTP_202_ACCEPTED,
        guards=[not_cross_site],
        **body(Forgot),
    )
    async def forgot(self, request: Req, data: JSONBody[Forgot]) -> None:
        rt = runtime_of(request)
        await accounts.forgot_password(
            rt, clinic_slug=data.clinic, email=data.email, ip=request_ip(request.scope, rt)
        )

    @post(
        "/password/reset",
        operation_id="authPasswordReset",
        summary="Set a new password",
        status_code=HTTP_204_NO_CONTENT,
        guards=[not_cross_site],
        **body(ResetPassword),
    )
    async def reset(self, request: Req, data: JSONBody[ResetPassword]) -> None:
        rt = runtime_of(request)
        await accounts.reset_password(
            rt, token=data.token, password=data.password, ip=request_ip(request.scope, rt)
        )

    @post(
        "/password/change",
        operation_id="authPasswordChange",
        summary="Change my password",
        status_code=HTTP_204_NO_CONTENT,
        guards=[signed_in],
        **body(ChangePassword),
    )
    async def change(self, request: Req, data: JSONBody[ChangePassword]) -> None:
        await accounts.change_password(
            runtime_of(request),
            request.user,
            current_password=data.current_password,
            new_password=data.new_password,
        )
