"""`/api/payments` (SPEC §8): thin handlers over intents, refunds, queries and webhooks."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from litestar import Controller, Request, Response
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED, HTTP_202_ACCEPTED

from topsmile.auth.principal import ADMIN_MANAGER, Principal, allow
from topsmile.core import idempotency, ranges
from topsmile.core.openapi import problem_response
from topsmile.core.routes import get, post
from topsmile.core.schemas import Output, Page, body
from topsmile.payments import intents, queries, refunds, webhooks
from topsmile.payments.intents import IntentResult
from topsmile.payments.schemas import (
    CreateIntent,
    IntentView,
    PaymentView,
    RefundRequest,
    payment_view,
)
from topsmile.runtime import runtime_of

Req = Request[Principal, Any, Any]
# SPEC §2: payments are read and started by the front desk and by patients (their own).
PAYERS = allow("admin", "manager", "receptionist", "patient")
AppointmentFilter = Annotated[uuid.UUID | None, QueryParameter(name="appointmentId")]
_UNAVAILABLE = {503: problem_response(503)}


class WebhookAck(Output):
    received: bool


class PaymentsController(Controller):
    path = "/api/payments"
    tags = ["payments"]

    @post(
        "/create-intent",
        operation_id="createPaymentIntent",
        summary="A Stripe PaymentIntent for an appointment's price (its open one again: 200)",
        guards=[PAYERS],
        responses={
            HTTP_200_OK: ResponseSpec(IntentView, description="The appointment's open intent"),
            404: problem_response(404),  # the appointmentId of the body
            422: problem_response(422),
            **_UNAVAILABLE,
        },
        **body(CreateIntent),
    )
    async def create_intent(
        self,
        request: Req,
        data: JSONBody[CreateIntent],
        idempotency_key: idempotency.IdempotencyKey = None,
    ) -> Response[IntentView]:
        actor = request.user.actor
        runtime = runtime_of(request)

        async def work() -> IntentResult:
            return await intents.create_intent(actor, runtime.settings, data.appointment_id)

        if idempotency_key is None:
            result = await work()
        else:
            result = await idempotency.once(
                runtime.redis,
                actor,
                operation="createPaymentIntent",
                key=idempotency_key,
                request=data,
                kind=IntentResult,
                work=work,
            )
        status = HTTP_201_CREATED if result.created else HTTP_200_OK
        return Response(result.view, status_code=status)

    @get(
        "/",
        operation_id="listPayments",
        summary="Payments, newest first (patients: their own)",
        guards=[PAYERS],
    )
    async def index(
        self,
        request: Req,
        appointment_id: AppointmentFilter = None,
        page: ranges.Page = 1,
        pageSize: ranges.PageSize = 20,  # wire names: see core.ranges
    ) -> Page[PaymentView]:
        actor = request.user.actor
        found, total = await queries.list_payments(actor, appointment_id, page, pageSize)
        return Page(
            items=[payment_view(r) for r in found], total=total, page=page, page_size=pageSize
        )

    @get("/{payment_id:uuid}", operation_id="getPayment", summary="One payment", guards=[PAYERS])
    async def show(self, request: Req, payment_id: FromPath[uuid.UUID]) -> PaymentView:
        return payment_view(await queries.get_payment(request.user.actor, payment_id))

    @post(
        "/{payment_id:uuid}/refund",
        operation_id="refundPayment",
        summary="Ask Stripe for a refund (the payment changes when Stripe confirms it)",
        status_code=HTTP_202_ACCEPTED,
        guards=[ADMIN_MANAGER],
        responses=_UNAVAILABLE,
        **body(RefundRequest),
    )
    async def refund(
        self,
        request: Req,
        payment_id: FromPath[uuid.UUID],
        data: JSONBody[RefundRequest | None] = None,
        idempotency_key: idempotency.IdempotencyKey = None,
    ) -> PaymentView:
        actor = request.user.actor
        runtime = runtime_of(request)
        wanted = data or RefundRequest()

        async def work() -> PaymentView:
            return payment_view(await refunds.refund(actor, runtime.settings, payment_id, wanted))

        if idempotency_key is None:
            return await work()
        return await idempotency.once(
            runtime.redis,
            actor,
            operation=f"refundPayment:{payment_id}",
            key=idempotency_key,
            request=wanted,
            kind=PaymentView,
            work=work,
        )

    @post(
        "/webhook",
        operation_id="stripeWebhook",
        summary="Stripe events, signed with STRIPE_WEBHOOK_SECRET (raw body; no session)",
        description="Verified with the `Stripe-Signature` header (300 s tolerance); each event"
        " id is applied once; unknown event types are acknowledged and ignored.",
        status_code=HTTP_200_OK,
        responses={400: problem_response(400), **_UNAVAILABLE},
    )
    async def webhook(self, request: Request[Any, Any, Any]) -> WebhookAck:
        settings = runtime_of(request).settings
        signature = request.headers.get("stripe-signature")
        event = webhooks.verified_event(settings, await request.body(), signature)
        await webhooks.apply(event)
        return WebhookAck(received=True)
