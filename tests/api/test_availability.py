"""SPEC §6 availability through the API: roles, patient and staff rules, 404s, ranges,
deactivation, time off, closures, order, and a DST day in America/New_York."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.api.auth_fixtures import SeededClinic, csrf, login, seed_clinic
from tests.conftest import client_for
from topsmile.core.middleware import EdgeMiddleware

URL = "/api/scheduling/availability"
SAO_PAULO = ZoneInfo("America/Sao_Paulo")
ALL_DAY = [{"weekday": d, "start": "00:00", "end": "24:00"} for d in range(1, 8)]
MORNINGS = [{"weekday": d, "start": "08:00", "end": "12:00"} for d in range(1, 8)]


async def _post(client: httpx.AsyncClient, path: str, body: object) -> dict[str, Any]:
    response = await client.post(path, json=body, headers=csrf(client))
    assert response.status_code == 201, response.text
    return dict(response.json())


async def new_service(admin: httpx.AsyncClient, **overrides: Any) -> str:
    body = {"name": "Cleaning", "durationMinutes": 30, "priceAmount": 10000, **overrides}
    return str((await _post(admin, "/api/scheduling/services", body))["id"])


async def new_provider(
    admin: httpx.AsyncClient, service_ids: list[str], hours: list[dict[str, Any]] = MORNINGS
) -> str:
    body = {"firstName": "Dora", "lastName": "Dent", "serviceIds": service_ids}
    pid = str((await _post(admin, "/api/scheduling/providers", body))["id"])
    put = await admin.put(
        f"/api/scheduling/providers/{pid}/working-hours", json=hours, headers=csrf(admin)
    )
    assert put.status_code == 200, put.text
    return pid


def local_today(zone: ZoneInfo = SAO_PAULO) -> date:
    return datetime.now(UTC).astimezone(zone).date()


async def slots_of(client: httpx.AsyncClient, status: int = 200, **params: str) -> Any:
    response = await client.get(URL, params=params)
    assert response.status_code == status, response.text
    return response.json()


def instants(answer: dict[str, Any]) -> list[datetime]:
    return [datetime.fromisoformat(s["start"]) for s in answer["slots"]]


async def test_every_role_gets_slots_with_its_rules(as_role: dict[str, httpx.AsyncClient]) -> None:
    admin = as_role["admin"]
    sid = await new_service(admin)
    pid = await new_provider(admin, [sid], ALL_DAY)
    day = (local_today() + timedelta(days=3)).isoformat()
    for role, client in as_role.items():
        answer = await slots_of(client, serviceId=sid, providerId=pid, **{"from": day, "to": day})
        assert answer["timezone"] == "America/Sao_Paulo"
        assert answer["serviceId"] == sid
        step = 15 if role == "patient" else 5  # the clinic's interval; staff: 5 minutes
        starts = instants(answer)
        assert len(starts) == 24 * 60 // step, role  # the next day's hours touch: 23:45 fits
        assert all(s["end"].endswith("Z") and s["start"].endswith("Z") for s in answer["slots"])
        assert all(s["providerId"] == pid for s in answer["slots"])


async def test_patients_get_notice_and_horizon_staff_do_not(
    as_role: dict[str, httpx.AsyncClient],
) -> None:
    admin, patient, staff = as_role["admin"], as_role["patient"], as_role["receptionist"]
    patch = await admin.patch(
        "/api/clinic",
        json={"settings": {"minNoticeMinutes": 600, "bookingHorizonDays": 2}},
        headers=csrf(admin),
    )
    assert patch.status_code == 200, patch.text
    sid = await new_service(admin)
    await new_provider(admin, [sid], ALL_DAY)
    today = local_today()
    week = {"from": today.isoformat(), "to": (today + timedelta(days=6)).isoformat()}
    now = datetime.now(UTC)
    mine = instants(await slots_of(patient, serviceId=sid, **week))
    assert min(mine) >= now + timedelta(minutes=600)
    assert min(mine) < now + timedelta(minutes=600 + 15 + 1)
    assert max(mine).astimezone(SAO_PAULO).date() == today + timedelta(days=2)
    theirs = instants(await slots_of(staff, serviceId=sid, **week))
    assert min(theirs) >= now
    assert min(theirs) < now + timedelta(minutes=5 + 1)
    assert max(theirs).astimezone(SAO_PAULO).date() == today + timedelta(days=6)


async def test_unknown_hidden_and_other_clinics_ids_are_404(
    app: EdgeMiddleware, as_role: dict[str, httpx.AsyncClient]
) -> None:
    admin, patient, staff = as_role["admin"], as_role["patient"], as_role["receptionist"]
    sid = await new_service(admin)
    offline = await new_service(admin, onlineBookable=False)
    pid = await new_provider(admin, [sid, offline])
    other = await seed_clinic(("admin",))
    async with client_for(app) as stranger:
        await login(stranger, other, "admin")
        their_sid = await new_service(stranger)
        their_pid = await new_provider(stranger, [their_sid])
    for client in (patient, staff, admin):
        await slots_of(client, 404, serviceId=str(their_sid))
        await slots_of(client, 404, serviceId=sid, providerId=their_pid)
        await slots_of(client, 404, serviceId=sid, providerId=str(other.id))
    await slots_of(patient, 404, serviceId=offline)  # not bookable online: hidden
    await slots_of(patient, 404, serviceId=offline, providerId=pid)
    assert (await slots_of(staff, serviceId=offline))["slots"]
    problem = await patient.get(URL, params={"serviceId": offline})
    assert problem.json()["type"] == "/problems/not-found"


async def test_bad_ranges_and_parameters_are_400(as_role: dict[str, httpx.AsyncClient]) -> None:
    staff = as_role["receptionist"]
    sid = await new_service(as_role["admin"])
    start = date(2031, 1, 1)
    ok = {"from": start.isoformat(), "to": (start + timedelta(days=30)).isoformat()}
    await slots_of(staff, serviceId=sid, **ok)  # 31 days counting both ends
    bad: list[dict[str, str]] = [
        {"serviceId": sid, "from": "2031-01-01", "to": "2031-02-01"},  # 32 days
        {"serviceId": sid, "from": "2031-01-02", "to": "2031-01-01"},
        {"serviceId": sid, "from": "2031-02-30"},
        {"serviceId": sid, "from": "2031-01-01T00:00:00Z"},
        {"serviceId": sid, "to": "tomorrow"},
        {"serviceId": sid, "from": "9999-12-31"},
        {"serviceId": "not-a-uuid"},
        {"serviceId": sid, "providerId": "42"},
        {},
    ]
    for params in bad:
        response = await staff.get(URL, params=params)
        assert response.status_code == 400, (params, response.text)
        assert response.json()["type"] == "/problems/validation-error"


async def test_default_range_is_today_and_six_more_days(
    as_role: dict[str, httpx.AsyncClient],
) -> None:
    staff = as_role["receptionist"]
    sid = await new_service(as_role["admin"], durationMinutes=60)
    await new_provider(as_role["admin"], [sid], ALL_DAY)
    today = local_today()
    days = {s.astimezone(SAO_PAULO).date() for s in instants(await slots_of(staff, serviceId=sid))}
    assert max(days) == today + timedelta(days=6)
    assert min(days) in (today, today + timedelta(days=1))  # late at night: today is over
    start = today + timedelta(days=10)
    answer = await slots_of(staff, serviceId=sid, **{"from": start.isoformat()})
    days = {s.astimezone(SAO_PAULO).date() for s in instants(answer)}
    assert days == {start + timedelta(days=n) for n in range(7)}


async def test_deactivation_stops_slots_at_once(as_role: dict[str, httpx.AsyncClient]) -> None:
    admin, patient, staff = as_role["admin"], as_role["patient"], as_role["receptionist"]
    sid = await new_service(admin)
    pid = await new_provider(admin, [sid])
    assert (await slots_of(patient, serviceId=sid, providerId=pid))["slots"]
    gone = await admin.delete(f"/api/scheduling/providers/{pid}", headers=csrf(admin))
    assert gone.status_code == 204
    assert (await slots_of(staff, serviceId=sid, providerId=pid))["slots"] == []
    assert (await slots_of(staff, serviceId=sid))["slots"] == []
    await slots_of(patient, 404, serviceId=sid, providerId=pid)
    assert (await slots_of(patient, serviceId=sid))["slots"] == []
    sid2 = await new_service(admin)
    await new_provider(admin, [sid2])
    assert (await slots_of(staff, serviceId=sid2))["slots"]
    gone = await admin.delete(f"/api/scheduling/services/{sid2}", headers=csrf(admin))
    assert gone.status_code == 204
    assert (await slots_of(staff, serviceId=sid2))["slots"] == []
    await slots_of(patient, 404, serviceId=sid2)


async def test_time_off_and_closures_remove_slots(as_role: dict[str, httpx.AsyncClient]) -> None:
    admin, patient = as_role["admin"], as_role["patient"]
    sid = await new_service(admin, bufferBeforeMinutes=0, bufferAfterMinutes=0)
    pid = await new_provider(admin, [sid])
    day = local_today() + timedelta(days=5)
    params = {"serviceId": sid, "providerId": pid, "from": day.isoformat(), "to": day.isoformat()}
    assert len((await slots_of(patient, **params))["slots"]) == 15  # 08:00-12:00, 30 min, 15
    nine = datetime.combine(day, datetime.min.time(), SAO_PAULO) + timedelta(hours=9)
    await _post(
        admin,
        f"/api/scheduling/providers/{pid}/time-off",
        {"start": nine.isoformat(), "end": (nine + timedelta(hours=1)).isoformat()},
    )
    starts = instants(await slots_of(patient, **params))
    assert len(starts) == 15 - 5  # 08:45 .. 09:45 would overlap 09:00-10:00
    assert all(s + timedelta(minutes=30) <= nine or s >= nine + timedelta(hours=1) for s in starts)
    await _post(
        admin,
        "/api/scheduling/closures",
        {
            "start": (nine + timedelta(hours=2)).isoformat(),
            "end": (nine + timedelta(hours=3)).isoformat(),
        },
    )
    starts = instants(await slots_of(patient, **params))
    assert [s.astimezone(SAO_PAULO).strftime("%H:%M") for s in starts] == [
        "08:00",
        "08:15",
        "08:30",
        "10:00",
        "10:15",
        "10:30",
    ]


async def test_slots_of_every_provider_sorted_by_start_then_provider(
    as_role: dict[str, httpx.AsyncClient],
) -> None:
    admin = as_role["admin"]
    sid = await new_service(admin)
    pids = {await new_provider(admin, [sid]) for _ in range(3)}
    await new_provider(admin, [])  # offers nothing: never listed
    day = (local_today() + timedelta(days=4)).isoformat()
    answer = await slots_of(as_role["patient"], serviceId=sid, **{"from": day, "to": day})
    keys = [(s["start"], s["providerId"]) for s in answer["slots"]]
    assert keys == sorted(keys)
    assert {s["providerId"] for s in answer["slots"]} == pids
    assert len(keys) == 3 * 15


def next_spring_forward(zone: ZoneInfo) -> date:
    day = local_today(zone) + timedelta(days=1)
    while True:
        midnight = datetime.combine(day, datetime.min.time(), zone)
        following = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
        if following.utcoffset() > midnight.utcoffset():  # type: ignore[operator]
            return day
        day += timedelta(days=1)


async def test_dst_day_in_new_york(as_role: dict[str, httpx.AsyncClient]) -> None:
    admin, staff = as_role["admin"], as_role["receptionist"]
    patch = await admin.patch(
        "/api/clinic", json={"timezone": "America/New_York"}, headers=csrf(admin)
    )
    assert patch.status_code == 200, patch.text
    new_york = ZoneInfo("America/New_York")
    day = next_spring_forward(new_york)
    sid = await new_service(admin, durationMinutes=60)
    hours = [
        {"weekday": day.isoweekday(), "start": "02:30", "end": "04:00"},
        {"weekday": day.isoweekday(), "start": "08:00", "end": "12:00"},
    ]
    pid = await new_provider(admin, [sid], hours)
    answer = await slots_of(
        staff, serviceId=sid, providerId=pid, **{"from": day.isoformat(), "to": day.isoformat()}
    )
    assert answer["timezone"] == "America/New_York"
    starts = instants(answer)
    local = [s.astimezone(new_york).strftime("%H:%M") for s in starts]
    assert local[0] == "03:00"  # 02:30 does not exist: the first instant after the gap
    assert "02:30" not in local
    assert local[-1] == "11:00"
    morning = [s for s in starts if s.astimezone(new_york).hour >= 8]
    assert morning[-1] + timedelta(hours=1) - morning[0] == timedelta(hours=4)  # 4 real hours
    assert len(morning) == (4 * 60 - 60) // 5 + 1


async def test_staff_get_no_past_slots(app: EdgeMiddleware, clinic: SeededClinic) -> None:
    async with client_for(app) as admin:
        await login(admin, clinic, "admin")
        sid = await new_service(admin)
        await new_provider(admin, [sid], ALL_DAY)
        yesterday = (local_today() - timedelta(days=1)).isoformat()
        answer = await slots_of(admin, serviceId=sid, **{"from": yesterday, "to": yesterday})
        assert answer["slots"] == []
