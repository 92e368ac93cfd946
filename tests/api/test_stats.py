"""SPEC §6 `GET /api/scheduling/stats`: counts and rates from real bookings, cancellations
and no-shows; utilization against working hours minus time off and closures (DST correct);
revenue; new patients; roles; bad ranges."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.api.appointment_fixtures import act, add_patient, book, local_start, open_all_day, soon
from tests.api.auth_fixtures import SeededClinic, csrf
from tests.api.test_availability import MORNINGS, SAO_PAULO, local_today, new_provider
from topsmile.core import db
from topsmile.reports.stats import working_minutes
from topsmile.scheduling.availability import Span

STATS = "/api/scheduling/stats"


async def stats_of(client: httpx.AsyncClient, status: int = 200, **params: str) -> Any:
    response = await client.get(STATS, params=params)
    assert response.status_code == status, response.text
    return response.json()


def local(day: date, hour: int) -> str:
    return datetime.combine(day, time(hour), SAO_PAULO).isoformat()


async def _period(client: httpx.AsyncClient, url: str, start: str, end: str) -> None:
    response = await client.post(url, json={"start": start, "end": end}, headers=csrf(client))
    assert response.status_code == 201, response.text


async def test_counts_rates_utilization_and_revenue(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin, staff = as_role["admin"], as_role["receptionist"]
    patient = str(await add_patient(clinic))
    sid, busy = await open_all_day(admin)
    mornings = await new_provider(admin, [sid], MORNINGS)
    today = local_today()
    first, last = today - timedelta(days=1), today + timedelta(days=3)
    days = (last - first).days + 1

    scheduled = await book(staff, sid, busy, local_start(1, 10), patientId=patient)
    early = await book(staff, sid, busy, local_start(2, 11), patientId=patient)
    late = await book(staff, sid, busy, soon(60), patientId=patient)
    missed = await book(staff, sid, busy, soon(5), patientId=patient)
    done = await book(staff, sid, busy, local_start(2, 9), patientId=patient)
    outside = await book(staff, sid, busy, local_start(6, 10), patientId=patient)
    for response in (scheduled, early, late, missed, done, outside):
        assert response.status_code == 201, response.text
    assert (await act(staff, early.json()["id"], "cancel")).json()["lateCancellation"] is False
    assert (await act(staff, late.json()["id"], "cancel")).json()["lateCancellation"] is True
    for status in ("confirmed", "checked_in", "in_progress", "completed"):
        changed = await act(staff, done.json()["id"], "status", {"status": status})
        assert changed.status_code == 200, changed.text
    async with db.tenant_transaction(clinic.id):  # it started an hour ago
        await db.fetch(
            "UPDATE appointment SET starts_at = starts_at - interval '1 hour',"
            " ends_at = ends_at - interval '1 hour', occupied_start = occupied_start - interval"
            " '1 hour', occupied_end = occupied_end - interval '1 hour' WHERE id = {}",
            uuid.UUID(missed.json()["id"]),
        )
    no_show = await act(staff, missed.json()["id"], "status", {"status": "no_show"})
    assert no_show.status_code == 200, no_show.text
    # A two-hour closure in everyone's morning; an 11:00-13:00 time off, one hour of it in
    # the mornings provider's hours.
    day2, day3 = today + timedelta(days=2), today + timedelta(days=3)
    await _period(admin, "/api/scheduling/closures", local(day2, 8), local(day2, 10))
    await _period(
        admin, f"/api/scheduling/providers/{mornings}/time-off", local(day3, 11), local(day3, 13)
    )

    body = await stats_of(as_role["provider"], **{"from": str(first), "to": str(last)})

    assert body["appointments"]["total"] == 5
    assert body["appointments"]["byStatus"] == {
        "pending": 0,
        "scheduled": 1,
        "confirmed": 0,
        "checked_in": 0,
        "in_progress": 0,
        "completed": 1,
        "cancelled": 2,
        "no_show": 1,
    }
    assert body["noShowRate"] == 0.2
    assert body["cancellationRate"] == 0.4
    assert body["lateCancellationRate"] == 0.2
    usage = {u["providerId"]: u for u in body["utilization"]}
    assert usage[busy] == {
        "providerId": busy,
        "bookedMinutes": 60,  # the scheduled and the completed one
        "workingMinutes": days * 1440 - 120,
    }
    assert usage[mornings] == {
        "providerId": mornings,
        "bookedMinutes": 0,
        "workingMinutes": days * 240 - 120 - 60,
    }
    assert body["revenue"] == {"paidAmount": 0, "refundedAmount": 0, "currency": "brl"}

    # Instants cut the range mid-day: only the covered part of working time counts (09:00-12:00
    # on day 1; day 2's 08:00-09:00 lies in the closure).
    part = await stats_of(
        admin, **{"from": local(today + timedelta(days=1), 9), "to": local(day2, 9)}
    )
    # The scheduled one; the completed one starts at 09:00 on day 2, the exclusive end.
    assert part["appointments"]["total"] == 1
    assert {u["providerId"]: u["workingMinutes"] for u in part["utilization"]}[mornings] == 180


async def test_nothing_in_range_gives_zero_rates(as_role: dict[str, httpx.AsyncClient]) -> None:
    body = await stats_of(as_role["manager"], **{"from": "2020-01-01", "to": "2020-01-31"})
    assert body["appointments"]["total"] == 0
    assert set(body["appointments"]["byStatus"].values()) == {0}
    assert (body["noShowRate"], body["cancellationRate"], body["lateCancellationRate"]) == (
        0,
        0,
        0,
    )
    assert body["newPatients"] == 0


async def test_new_patients_count_creation_in_range(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin = as_role["admin"]
    today = str(local_today())
    before = (await stats_of(admin, **{"from": today, "to": today}))["newPatients"]
    added = await add_patient(clinic)
    assert (await stats_of(admin, **{"from": today, "to": today}))["newPatients"] == before + 1
    async with db.tenant_transaction(clinic.id):
        await db.fetch(
            "UPDATE patient SET created_at = '2021-06-15T12:00:00Z' WHERE id = {}", added
        )
    assert (await stats_of(admin, **{"from": today, "to": today}))["newPatients"] == before
    june = await stats_of(admin, **{"from": "2021-06-01", "to": "2021-06-30"})
    assert june["newPatients"] == 1


async def test_default_range_is_the_current_local_month(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    admin = as_role["admin"]
    sid, pid = await open_all_day(admin)
    patient = str(await add_patient(clinic))
    assert (await book(admin, sid, pid, soon(30), patientId=patient)).status_code == 201
    today = local_today()
    month_end = (today.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    explicit = await stats_of(admin, **{"from": str(today.replace(day=1)), "to": str(month_end)})
    assert await stats_of(admin) == explicit
    assert await stats_of(admin, **{"from": str(today.replace(day=1))}) == explicit
    assert explicit["appointments"]["total"] >= 1
    usage = {u["providerId"]: u for u in explicit["utilization"]}
    assert usage[pid]["workingMinutes"] == month_end.day * 1440


async def test_roles_and_bad_ranges(as_role: dict[str, httpx.AsyncClient]) -> None:
    for role in ("admin", "manager", "receptionist", "provider"):
        await stats_of(as_role[role])
    refused = await as_role["patient"].get(STATS)
    assert refused.status_code == 403
    admin = as_role["admin"]
    for params, field in (
        ({"from": "yesterday"}, "from"),
        ({"from": "2030-01-10", "to": "2030-01-01"}, "to"),
        ({"from": "2030-01-01T10:00:00"}, "from"),  # naive
        ({"from": "2030-01-01", "to": "2031-06-01"}, "to"),  # too long
        ({"to": "2030-01-01"}, "from"),
        ({"from": "0001-01-01T00:00:00Z", "to": "0001-01-02T00:00:00Z"}, "from"),
        ({"from": "9000-12-01", "to": "9000-12-31"}, "to"),
        ({"from": "9999-12-31T00:00:00Z", "to": "9999-12-31T20:59:00Z"}, "to"),
    ):
        response = await admin.get(STATS, params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["errors"][0]["field"] == field


def test_working_minutes_follow_daylight_saving_changes() -> None:
    zone = ZoneInfo("America/New_York")
    all_day = [(d, 0, 1440) for d in range(1, 8)]

    def on(day: date) -> int:
        start = datetime.combine(day, time(), zone)
        end = datetime.combine(day + timedelta(days=1), time(), zone)
        return working_minutes(all_day, [], zone, (start, end, day, day))

    assert on(date(2026, 3, 8)) == 23 * 60  # spring forward
    assert on(date(2026, 11, 1)) == 25 * 60  # fall back
    assert on(date(2026, 7, 1)) == 24 * 60
    day = date(2026, 7, 1)
    start = datetime.combine(day, time(), zone)
    closed = [
        Span(start + timedelta(hours=1), start + timedelta(hours=3)),
        Span(start + timedelta(hours=2), start + timedelta(hours=4)),  # overlaps: counted once
    ]
    assert working_minutes(all_day, closed, zone, (start, start + timedelta(days=1), day, day)) == (
        21 * 60
    )
