"""SPEC §5 patients: the staff search (literal prefixes, paging), roles (§2) and `/me`."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.api.auth_fixtures import SeededClinic, csrf
from tests.api.patient_fixtures import (
    PATIENTS,
    create,
    events_of,
    field_of,
    link_patient,
    names,
    search,
)
from tests.conftest import client_for
from topsmile.core.middleware import EdgeMiddleware

# (first, last, email, phone): names full of LIKE and regex metacharacters, and look-alikes
# that a wildcard reading of them would also match.
PEOPLE = [
    ("Ana", "Silva", "ana.silva@example.com", "+55 (11) 98765-4321"),
    ("Anabela", "Souza", "bela@example.com", None),
    ("Ana_Maria", "Costa", None, None),
    ("AnaXMaria", "Costa", None, None),
    ("Ana%", "Percent", None, None),
    ("Back\\slash", "Name", None, None),
    ("Backxslash", "Name", None, None),
    ("Dot.*Star", "Regex", None, None),
    ("Dotty", "Regex", None, None),
    ("Paren(", "Open", None, None),
    ("Brack[et", "Open", None, None),
    ("Álvaro", "Ávila", None, "+1 415 555 2671"),
]


@pytest.fixture
async def people(staff: httpx.AsyncClient) -> None:
    for first, last, email, phone in PEOPLE:
        await create(staff, firstName=first, lastName=last, email=email, phone=phone)


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("ana_", ["Ana_Maria Costa"]),
        ("ana%", ["Ana% Percent"]),
        ("back\\", ["Back\\slash Name"]),
        ("back\\s", ["Back\\slash Name"]),
        ("dot.*", ["Dot.*Star Regex"]),
        ("paren(", ["Paren( Open"]),
        ("brack[", ["Brack[et Open"]),
        ("%", []),
        ("_", []),
        ("\\", []),
        (".*", []),
        ("(", []),
        ("[", []),
        ("a.a", []),
    ],
)
async def test_search_reads_metacharacters_literally(
    staff: httpx.AsyncClient, q: str, expected: list[str]
) -> None:
    assert await names(staff, q) == expected


@pytest.mark.usefixtures("people")
@pytest.mark.parametrize(
    ("q", "expected"),
    [
        # First name prefixes, in last name, first name order; case-insensitive.
        (
            "ANA",
            ["Ana_Maria Costa", "AnaXMaria Costa", "Ana% Percent", "Ana Silva", "Anabela Souza"],
        ),
        ("sou", ["Anabela Souza"]),  # last name
        ("ana sil", ["Ana Silva"]),  # "first last"
        ("  Ana   SILVA ", ["Ana Silva"]),
        ("silva ana", []),
        ("ilva", []),  # a prefix, not a substring
        ("ANA.SILVA@EX", ["Ana Silva"]),  # email
        ("bela@", ["Anabela Souza"]),
        ("example.com", []),
        ("+55 (11) 98765", ["Ana Silva"]),  # phone digits, punctuation ignored
        ("5511-9876-54", ["Ana Silva"]),
        ("1 (415) 555", ["Álvaro Ávila"]),
        ("4155552671", []),  # the digits start with the country code
        ("álv", ["Álvaro Ávila"]),
        ("ÁLVARO ÁV", ["Álvaro Ávila"]),
    ],
)
async def test_search_matches_prefixes(
    staff: httpx.AsyncClient, q: str, expected: list[str]
) -> None:
    assert await names(staff, q) == expected


async def test_paging_totals_and_order(staff: httpx.AsyncClient) -> None:
    created = [await create(staff, firstName=f"P{i:02d}", lastName="Pager") for i in range(25)]
    first = await search(staff, q="pager", pageSize=10)
    assert (first["total"], first["page"], first["pageSize"]) == (25, 1, 10)
    assert [p["firstName"] for p in first["items"]] == [f"P{i:02d}" for i in range(10)]
    last = await search(staff, q="pager", pageSize=10, page=3)
    assert [p["id"] for p in last["items"]] == [p["id"] for p in created[20:]]
    beyond = await search(staff, q="pager", pageSize=10, page=4)
    assert (beyond["items"], beyond["total"]) == ([], 25)
    default = await search(staff)
    assert (default["page"], default["pageSize"], len(default["items"])) == (1, 20, 20)
    assert default["total"] == 25


async def test_status_filter(staff: httpx.AsyncClient) -> None:
    kept = await create(staff, lastName="Keeps")
    gone = await create(staff, lastName="Keeper")
    assert (await staff.delete(f"{PATIENTS}/{gone['id']}", headers=csrf(staff))).status_code == 204
    active = await search(staff, q="kee", status="active")
    assert [p["id"] for p in active["items"]] == [kept["id"]]
    inactive = await search(staff, status="inactive")
    assert [p["id"] for p in inactive["items"]] == [gone["id"]]
    assert (await search(staff, q="kee"))["total"] == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"pageSize": "0"}, "pageSize"),
        ({"pageSize": "101"}, "pageSize"),
        ({"pageSize": "2.5"}, "pageSize"),
        ({"page": "0"}, "page"),
        ({"page": "-1"}, "page"),
        ({"page": "abc"}, "page"),
        ({"status": "deleted"}, "status"),
        ({"q": "x" * 101}, "q"),
        ({"q": "a\x00b"}, "q"),
    ],
)
async def test_bad_query_parameters_are_400(
    staff: httpx.AsyncClient, query: dict[str, str], field: str
) -> None:
    assert field_of(await staff.get(PATIENTS, params=query)) == field


async def test_longest_query_is_accepted(staff: httpx.AsyncClient) -> None:
    assert (await search(staff, q="x" * 100))["total"] == 0


# --- Roles (SPEC §2: staff rw, provider r, patient only their own profile) ----------------------


@pytest.mark.parametrize("role", ["admin", "manager", "receptionist"])
async def test_front_desk_roles_read_and_write(
    as_role: dict[str, httpx.AsyncClient], role: str
) -> None:
    client = as_role[role]
    created = await create(client, lastName=role)
    url = f"{PATIENTS}/{created['id']}"
    assert (await client.get(url)).status_code == 200
    assert (await search(client, q=role))["total"] == 1
    patched = await client.patch(url, json={"smsOptIn": True}, headers=csrf(client))
    assert patched.status_code == 200
    assert (await client.delete(url, headers=csrf(client))).status_code == 204


async def test_provider_reads_only(as_role: dict[str, httpx.AsyncClient]) -> None:
    provider = as_role["provider"]
    created = await create(as_role["admin"], notes="seen by staff")
    url = f"{PATIENTS}/{created['id']}"
    shown = await provider.get(url)
    assert shown.status_code == 200
    assert shown.json()["notes"] == "seen by staff"
    assert (await search(provider))["total"] == 1
    denied = [
        await provider.post(
            PATIENTS, json={"firstName": "A", "lastName": "B"}, headers=csrf(provider)
        ),
        await provider.patch(url, json={"smsOptIn": True}, headers=csrf(provider)),
        await provider.delete(url, headers=csrf(provider)),
    ]
    assert [r.status_code for r in denied] == [403, 403, 403]
    assert (await provider.get(url)).json()["status"] == "active"


async def test_patients_are_refused_staff_routes_whatever_the_id(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    patient = as_role["patient"]
    own = await link_patient(clinic)
    for patient_id in (own, uuid.uuid4()):
        url = f"{PATIENTS}/{patient_id}"
        responses = [
            await patient.get(url),
            await patient.patch(url, json={"firstName": "X"}, headers=csrf(patient)),
            await patient.delete(url, headers=csrf(patient)),
        ]
        assert [r.status_code for r in responses] == [403, 403, 403]
        assert responses[0].json()["type"] == "/problems/forbidden"
    assert (await patient.get(PATIENTS)).status_code == 403
    body = {"firstName": "A", "lastName": "B"}
    assert (await patient.post(PATIENTS, json=body, headers=csrf(patient))).status_code == 403
    for role in ("admin", "provider"):
        assert (await as_role[role].get(f"{PATIENTS}/me")).status_code == 403


async def test_sign_in_and_csrf_are_required(app: EdgeMiddleware, staff: httpx.AsyncClient) -> None:
    async with client_for(app) as anonymous:
        assert (await anonymous.get(PATIENTS)).status_code == 401
        assert (await anonymous.get(f"{PATIENTS}/me")).status_code == 401
    response = await staff.post(PATIENTS, json={"firstName": "A", "lastName": "B"})
    assert response.status_code == 403
    assert response.json()["type"] == "/problems/csrf-failed"


# --- /me ------------------------------------------------------------------------------------


async def test_me_without_a_record_is_404(as_role: dict[str, httpx.AsyncClient]) -> None:
    assert (await as_role["patient"].get(f"{PATIENTS}/me")).status_code == 404


async def test_me_reads_and_changes_the_own_profile(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    patient, staff = as_role["patient"], as_role["receptionist"]
    own = await link_patient(clinic, notes="staff only")
    me = await patient.get(f"{PATIENTS}/me")
    assert me.status_code == 200
    assert me.json()["id"] == str(own)
    assert me.json()["userId"] == str(clinic.users["patient"])
    assert "notes" not in me.json()
    response = await patient.patch(
        f"{PATIENTS}/me",
        json={"firstName": "Paulinha", "phone": "+1 (415) 555-2671", "smsOptIn": True},
        headers=csrf(patient),
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert (changed["firstName"], changed["phone"], changed["smsOptIn"]) == (
        "Paulinha",
        "+14155552671",
        True,
    )
    assert "notes" not in changed
    cleared = await patient.patch(f"{PATIENTS}/me", json={"phone": None}, headers=csrf(patient))
    assert "phone" not in cleared.json()
    staff_view = (await staff.get(f"{PATIENTS}/{own}")).json()
    assert (staff_view["notes"], staff_view["firstName"]) == ("staff only", "Paulinha")
    [first, _] = await events_of(clinic, str(own))
    assert (first["name"], first["actor_role"]) == ("patient.updated", "patient")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "new@example.com"}, "email"),
        ({"notes": "mine"}, "notes"),
        ({"status": "inactive"}, "status"),
        ({"userId": str(uuid.uuid4())}, "userId"),
        ({"phone": "98765-4321"}, "phone"),
        ({"firstName": ""}, "firstName"),
        ({"smsOptIn": "yes"}, "smsOptIn"),
    ],
)
async def test_me_refuses_what_patients_may_not_change(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic, body: dict[str, str], field: str
) -> None:
    await link_patient(clinic)
    patient = as_role["patient"]
    assert (
        field_of(await patient.patch(f"{PATIENTS}/me", json=body, headers=csrf(patient))) == field
    )
    assert "notes" not in (await patient.get(f"{PATIENTS}/me")).json()


async def test_me_phone_taken_by_another_patient_is_409(
    as_role: dict[str, httpx.AsyncClient], clinic: SeededClinic
) -> None:
    await link_patient(clinic)
    await create(as_role["admin"], phone="+5511912340000")
    patient = as_role["patient"]
    response = await patient.patch(
        f"{PATIENTS}/me", json={"phone": "+55 11 91234-0000"}, headers=csrf(patient)
    )
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/conflict"
