"""SPEC §6 appointments through the API: booking as patient and staff, 422 versus 409,
approval, the cancellation window, rescheduling, the status machine, history, events,
roles and 404s."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import httpx

from tests.api.appointment_fixtures import (
    APPOINTMENTS,
    act,
    add_patient,
    book,
    local_start,
    open_all_day,
    soon,
)
from tests.api.auth_fixtures import SeededClinic, csrf, login, seed_clinic
from tests.api.patient_fixtures import link_patient
from tests.conftest import client_for
from topsmile.core import db
from topsmile.core.middleware import EdgeMiddleware


def problem(response: httpx.Response) -> str:
    return str(response.json()["type"]).removeprefix("/problems/")


async def test_patient_books_for_themselves_staff_for_any_patient(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, patient, staff = as_role["admin"], as_role["patient"], as_role["receptionist"]
    own = await link_patient(clinic)
    other = await add_patient(clinic)
    sid, pid = await open_all_day(admin, priceAmount=15000)
    start = local_start(3, 10)
    mine = await book(patient, sid, pid, start, notes="First visit")
    assert mine.status_code == 201, mine.text
    body = mine.json()
    assert body["patientId"] == str(own)
    assert (body["status"], body["priceAmount"], body["currency"]) == ("scheduled", 15000, "brl")
    assert body["paymentStatus"] == "unpaid"
    assert body["notes"] == "First visit"
    assert body["start"] == start.isoformat().replace("+00:00", "Z")
    assert datetime.fromisoformat(body["end"]) - start == timedelta(minutes=30)
    assert body["lateCancellation"] is False
    assert body["cancelledAt"] is None

    theirs = await book(staff, sid, pid, local_start(3, 11), patientId=str(other))
    assert theirs.status_code == 201, theirs.text
    assert theirs.json()["patientId"] == str(other)
    missing = await book(staff, sid, pid, local_start(3, 12))
    assert missing.status_code == 400
    assert missing.json()["errors"][0]["field"] == "patientId"
    for_other = await book(patient, sid, pid, local_start(3, 12), patientId=str(other))
    assert for_other.status_code == 404

    # The price is a snapshot: changing the service later does not move it.
    changed = await admin.patch(
        f"/api/scheduling/services/{sid}", json={"priceAmount": 99}, headers=csrf(admin)
    )
    assert changed.status_code == 200
    again = await patient.get(f"{APPOINTMENTS}/{body['id']}")
    assert again.status_code == 200
    assert again.json()["priceAmount"] == 15000


async def test_taken_is_409_never_valid_is_422(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, patient, staff = as_role["admin"], as_role["patient"], as_role["receptionist"]
    await link_patient(clinic)
    other = str(await add_patient(clinic))
    sid, pid = await open_all_day(admin, bufferAfterMinutes=10)
    start = local_start(4, 9)
    assert (await book(patient, sid, pid, start)).status_code == 201
    for taken in (start, start + timedelta(minutes=35), start - timedelta(minutes=25)):
        response = await book(staff, sid, pid, taken, patientId=other)
        assert response.status_code == 409, (taken, response.text)
        assert problem(response) == "slot-unavailable"
    # The buffer ends at 09:40: a start there is free.
    assert (
        await book(staff, sid, pid, start + timedelta(minutes=40), patientId=other)
    ).status_code == 201
    never = [
        (patient, local_start(4, 13, 5)),  # off the patient's 15-minute grid
        (patient, soon(30)),  # inside the clinic's 120-minute notice
        (patient, local_start(200, 10)),  # beyond the 90-day horizon
        (staff, local_start(4, 13, 2)),  # off the staff 5-minute grid
        (staff, local_start(-1, 10)),  # in the past
    ]
    for client, when in never:
        response = await book(
            client, sid, pid, when, patientId=None if client is patient else other
        )
        assert response.status_code == 422, (when, response.text)
        assert problem(response) == "not-bookable"
    mornings = await admin.put(
        f"/api/scheduling/providers/{pid}/working-hours",
        json=[{"weekday": d, "start": "08:00", "end": "12:00"} for d in range(1, 8)],
        headers=csrf(admin),
    )
    assert mornings.status_code == 200
    late = await book(staff, sid, pid, local_start(4, 15), patientId=other)
    assert late.status_code == 422
    assert problem(late) == "not-bookable"
    naive = await staff.post(
        APPOINTMENTS,
        json={
            "serviceId": sid,
            "providerId": pid,
            "start": "2030-01-01T10:00:00",
            "patientId": other,
        },
        headers=csrf(staff),
    )
    assert naive.status_code == 400


async def test_offline_and_unoffered_services(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, patient, staff = as_role["admin"], as_role["patient"], as_role["receptionist"]
    await link_patient(clinic)
    other = str(await add_patient(clinic))
    sid, pid = await open_all_day(admin)
    offline, _ = await open_all_day(admin, onlineBookable=False)
    hidden = await book(patient, offline, pid, local_start(3, 10))
    assert hidden.status_code == 404  # patients do not see it
    unoffered = await book(staff, offline, pid, local_start(3, 10), patientId=other)
    assert unoffered.status_code == 422
    assert problem(unoffered) == "not-bookable"
    assert (
        await book(staff, sid, str(uuid.uuid4()), local_start(3, 10), patientId=other)
    ).status_code == 404
    assert (
        await book(staff, sid, pid, local_start(3, 10), patientId=str(uuid.uuid4()))
    ).status_code == 404


async def test_requires_approval_books_pending_then_staff_approve(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, patient, staff = as_role["admin"], as_role["patient"], as_role["receptionist"]
    await link_patient(clinic)
    sid, pid = await open_all_day(admin, requiresApproval=True)
    created = await book(patient, sid, pid, local_start(3, 10))
    assert created.status_code == 201
    assert created.json()["status"] == "pending"
    appointment = created.json()["id"]
    # A pending appointment holds its time.
    assert (
        await book(staff, sid, pid, local_start(3, 10), patientId=str(await add_patient(clinic)))
    ).status_code == 409
    refused = await act(patient, appointment, "status", {"status": "scheduled"})
    assert refused.status_code == 403
    approved = await act(staff, appointment, "status", {"status": "scheduled"})
    assert approved.status_code == 200
    assert approved.json()["status"] == "scheduled"


async def test_cancellation_window_refuses_patients_and_flags_staff(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, patient, staff = as_role["admin"], as_role["patient"], as_role["receptionist"]
    own = str(await link_patient(clinic))
    sid, pid = await open_all_day(admin)
    near = await book(staff, sid, pid, soon(60), patientId=own)  # inside the 24-hour window
    assert near.status_code == 201, near.text
    refused = await act(patient, near.json()["id"], "cancel", {"reason": "Sick"})
    assert refused.status_code == 422
    assert problem(refused) == "cancellation-window"
    moved = await act(
        patient, near.json()["id"], "reschedule", {"start": local_start(5, 10).isoformat()}
    )
    assert moved.status_code == 422
    assert problem(moved) == "cancellation-window"
    late = await act(staff, near.json()["id"], "cancel", {"reason": "Called in sick"})
    assert late.status_code == 200, late.text
    assert late.json()["status"] == "cancelled"
    assert late.json()["lateCancellation"] is True
    assert late.json()["cancellationReason"] == "Called in sick"
    assert late.json()["cancelledAt"].endswith("Z")

    far = await book(patient, sid, pid, local_start(3, 10))
    cancelled = await act(patient, far.json()["id"], "cancel")  # the body is optional
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["lateCancellation"] is False
    again = await act(patient, far.json()["id"], "cancel")
    assert again.status_code == 409
    assert problem(again) == "invalid-transition"
    # A cancelled appointment frees its time.
    assert (await book(patient, sid, pid, local_start(3, 10))).status_code == 201


async def test_reschedule_keeps_its_id_and_is_not_blocked_by_itself(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, patient, staff = as_role["admin"], as_role["patient"], as_role["receptionist"]
    await link_patient(clinic)
    other = str(await add_patient(clinic))
    sid, pid = await open_all_day(admin)
    first = (await book(patient, sid, pid, local_start(3, 10))).json()
    moved = await act(
        patient,
        first["id"],
        "reschedule",
        {"start": local_start(3, 10, 15).isoformat(), "reason": "Later"},
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["id"] == first["id"]
    assert moved.json()["start"] == local_start(3, 10, 15).isoformat().replace("+00:00", "Z")
    # Its old 10:00 block is free now; its new one is not.
    assert (await book(staff, sid, pid, local_start(3, 9, 30), patientId=other)).status_code == 201
    taken = await act(
        patient, first["id"], "reschedule", {"start": local_start(3, 9, 30).isoformat()}
    )
    assert taken.status_code == 409
    assert problem(taken) == "slot-unavailable"
    # Another provider must offer the service.
    elsewhere, _ = await open_all_day(admin)
    _, stranger = await open_all_day(admin, name="Whitening")
    unoffered = await act(
        staff,
        first["id"],
        "reschedule",
        {"start": local_start(3, 10).isoformat(), "providerId": stranger},
    )
    assert unoffered.status_code == 422
    assert problem(unoffered) == "not-bookable"
    assert elsewhere
    history = await patient.get(f"{APPOINTMENTS}/{first['id']}/history")
    assert history.status_code == 200
    steps = history.json()
    assert [s["action"] for s in steps] == ["created", "rescheduled"]
    assert steps[1]["oldStart"] == first["start"]
    assert steps[1]["reason"] == "Later"
    assert steps[1]["newStart"] == moved.json()["start"]


async def test_status_machine(as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic) -> None:
    admin, patient, staff = as_role["admin"], as_role["patient"], as_role["receptionist"]
    own = str(await link_patient(clinic))
    sid, pid = await open_all_day(admin)
    future = (await book(patient, sid, pid, local_start(3, 10))).json()["id"]
    early = await act(staff, future, "status", {"status": "no_show"})
    assert early.status_code == 409
    assert problem(early) == "invalid-transition"
    assert (await act(patient, future, "status", {"status": "checked_in"})).status_code == 403
    confirmed = await act(patient, future, "status", {"status": "confirmed"})
    assert confirmed.status_code == 200
    assert confirmed.json()["status"] == "confirmed"
    for status in ("checked_in", "in_progress", "completed"):
        response = await act(staff, future, "status", {"status": status, "note": "ok"})
        assert response.status_code == 200, (status, response.text)
    for final in ("cancelled", "scheduled", "no_show"):
        response = await act(staff, future, "status", {"status": final})
        assert response.status_code == 409
        assert problem(response) == "invalid-transition"
    bogus = await act(staff, future, "status", {"status": "lost"})
    assert bogus.status_code == 400
    history = (await staff.get(f"{APPOINTMENTS}/{future}/history")).json()
    assert [(h["fromStatus"], h["toStatus"]) for h in history] == [
        (None, "scheduled"),
        ("scheduled", "confirmed"),
        ("confirmed", "checked_in"),
        ("checked_in", "in_progress"),
        ("in_progress", "completed"),
    ]
    # A started appointment may be marked no-show.
    started = (await book(staff, sid, pid, soon(5), patientId=own)).json()
    async with db.tenant_transaction(clinic.id):
        await db.fetch(
            "UPDATE appointment SET starts_at = starts_at - interval '1 hour',"
            " ends_at = ends_at - interval '1 hour', occupied_start = occupied_start - interval"
            " '1 hour', occupied_end = occupied_end - interval '1 hour' WHERE id = {}",
            uuid.UUID(started["id"]),
        )
    no_show = await act(staff, started["id"], "status", {"status": "no_show"})
    assert no_show.status_code == 200
    assert no_show.json()["status"] == "no_show"


async def _outbox(clinic: SeededClinic, appointment_id: str) -> list[tuple[str, str]]:
    """(event name, delivery status of its audit handler) per event, by occurrence."""
    async with db.tenant_transaction(clinic.id):
        found = await db.fetch(
            "SELECT e.name, coalesce(bool_or(d.status = 'cancelled'), false) AS cancelled"
            " FROM event_outbox e LEFT JOIN event_delivery d ON d.event_id = e.id"
            " WHERE e.entity_type = 'appointment' AND e.entity_id = {}"
            " GROUP BY e.id, e.name, e.occurred_at ORDER BY e.occurred_at, e.name",
            appointment_id,
        )
    return [(r["name"], "cancelled" if r["cancelled"] else "live") for r in found]


async def test_events_and_reminders(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, patient = as_role["admin"], as_role["patient"]
    await link_patient(clinic)
    sid, pid = await open_all_day(admin)
    appointment = (await book(patient, sid, pid, local_start(3, 10))).json()["id"]
    assert sorted(await _outbox(clinic, appointment)) == [
        ("appointment.created", "live"),
        ("appointment.reminder_due", "live"),  # 1440 and 120 minutes before
        ("appointment.reminder_due", "live"),
    ]
    async with db.tenant_transaction(clinic.id):
        [due] = await db.fetch(
            "SELECT array_agg(due_at ORDER BY due_at) AS at FROM event_outbox"
            " WHERE name = 'appointment.reminder_due' AND entity_id = {}",
            appointment,
        )
    start = local_start(3, 10)
    assert due["at"] == [start - timedelta(minutes=1440), start - timedelta(minutes=120)]
    await act(patient, appointment, "reschedule", {"start": local_start(3, 11).isoformat()})
    await act(patient, appointment, "cancel", {"reason": "Travel"})
    events = await _outbox(clinic, appointment)
    assert [e for e in events if e[0] != "appointment.reminder_due"] == [
        ("appointment.created", "live"),
        ("appointment.rescheduled", "live"),
        ("appointment.cancelled", "live"),
    ]
    assert sorted(e[1] for e in events if e[0] == "appointment.reminder_due") == ["cancelled"] * 4


async def test_listing_filters_pages_and_patients_see_their_own(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, patient, staff = as_role["admin"], as_role["patient"], as_role["receptionist"]
    await link_patient(clinic)
    other = str(await add_patient(clinic))
    sid, pid = await open_all_day(admin)
    mine = [(await book(patient, sid, pid, local_start(3, h))).json()["id"] for h in (9, 10)]
    theirs = (await book(staff, sid, pid, local_start(4, 9), patientId=other)).json()["id"]
    await act(staff, mine[1], "cancel")
    everything = (await staff.get(APPOINTMENTS, params={"providerId": pid})).json()
    assert [a["id"] for a in everything["items"]] == [*mine, theirs]
    assert everything["total"] == 3
    assert everything["pageSize"] == 20
    paged = (
        await staff.get(APPOINTMENTS, params={"providerId": pid, "pageSize": 1, "page": 2})
    ).json()
    assert [a["id"] for a in paged["items"]] == [mine[1]]
    assert paged["total"] == 3
    day = (local_start(4, 9)).astimezone(local_start(0, 0).tzinfo)
    live = await staff.get(
        APPOINTMENTS, params={"providerId": pid, "status": "scheduled,confirmed"}
    )
    assert [a["id"] for a in live.json()["items"]] == [mine[0], theirs]
    ranged = await staff.get(
        APPOINTMENTS,
        params={
            "providerId": pid,
            "from": (local_start(4, 0)).isoformat(),
            "to": (local_start(5, 0)).isoformat(),
        },
    )
    assert [a["id"] for a in ranged.json()["items"]] == [theirs], day
    own = (await patient.get(APPOINTMENTS)).json()
    assert sorted(a["id"] for a in own["items"]) == sorted(mine)
    assert (await patient.get(APPOINTMENTS, params={"patientId": other})).json()["items"] == []
    assert (await staff.get(APPOINTMENTS, params={"status": "lost"})).status_code == 400
    for path in (f"{APPOINTMENTS}/{theirs}", f"{APPOINTMENTS}/{theirs}/history"):
        assert (await patient.get(path)).status_code == 404
    for action, body in (
        ("cancel", None),
        ("status", {"status": "confirmed"}),
        ("reschedule", {"start": local_start(6, 9).isoformat()}),
    ):
        assert (await act(patient, theirs, action, body)).status_code == 404


async def test_another_clinics_appointments_are_404(
    app: EdgeMiddleware, as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin = as_role["admin"]
    sid, pid = await open_all_day(admin)
    mine = (
        await book(admin, sid, pid, local_start(3, 9), patientId=str(await add_patient(clinic)))
    ).json()["id"]
    other = await seed_clinic(("admin",))
    async with client_for(app) as stranger:
        await login(stranger, other, "admin")
        assert (await stranger.get(f"{APPOINTMENTS}/{mine}")).status_code == 404
        assert (await stranger.get(f"{APPOINTMENTS}/{mine}/history")).status_code == 404
        assert (await act(stranger, mine, "cancel")).status_code == 404
        assert (await stranger.get(APPOINTMENTS)).json()["total"] == 0
        # Their staff cannot book our provider, service or patient either.
        their_patient = str(await add_patient(other))
        assert (
            await book(stranger, sid, pid, local_start(3, 10), patientId=their_patient)
        ).status_code == 404
