"""References between tenant tables carry the clinic: the database itself refuses a row of
one clinic pointing at another clinic's row, whatever the app checks first."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from tests.api.auth_fixtures import seed_clinic
from topsmile.core import db

pytestmark = pytest.mark.usefixtures("app")


async def test_every_reference_between_tenant_tables_includes_clinic_id() -> None:
    rows = await db.fetch(
        """
        SELECT c.conname AS name,
               ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(num, pos)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.num
                     ORDER BY k.pos)
                   AS columns,
               ARRAY(SELECT a.attname::text FROM unnest(c.confkey) WITH ORDINALITY k(num, pos)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.num
                     ORDER BY k.pos)
                   AS referenced
        FROM pg_constraint c
        WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.conrelid
                      AND a.attname = 'clinic_id' AND NOT a.attisdropped)
          AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.confrelid
                      AND a.attname = 'clinic_id' AND NOT a.attisdropped)
        """
    )
    assert len(rows) >= 9
    single = [r["name"] for r in rows if "clinic_id" not in r["columns"]]
    assert single == [], f"references that ignore the clinic: {single}"
    crossed = [
        r["name"] for r in rows if r["referenced"][r["columns"].index("clinic_id")] != "clinic_id"
    ]
    assert crossed == []


async def _two_clinics() -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    """Clinic A, and the ids of clinic B's user, session, provider and service."""
    mine, theirs = await seed_clinic(("admin",)), await seed_clinic(("admin",))
    user = theirs.users["admin"]
    async with db.tenant_transaction(theirs.id):
        [provider] = await db.fetch(
            "INSERT INTO provider (clinic_id, first_name, last_name) VALUES ({}, 'B', 'B')"
            " RETURNING id",
            theirs.id,
        )
        [service] = await db.fetch(
            "INSERT INTO clinic_service (clinic_id, name, duration_minutes, price_amount)"
            " VALUES ({}, 'B', 30, 0) RETURNING id",
            theirs.id,
        )
        session = uuid.uuid4()
        await db.fetch(
            "INSERT INTO auth_session (id, clinic_id, user_id, expires_at)"
            " VALUES ({}, {}, {}, now() + interval '1 hour')",
            session,
            theirs.id,
            user,
        )
    ids = {"user": user, "provider": provider["id"], "service": service["id"], "session": session}
    return mine.id, ids


async def _write(clinic_id: uuid.UUID, sql: str, *args: object) -> None:
    async with db.tenant_transaction(clinic_id):
        await db.fetch(sql, *args)


CROSS_CLINIC_WRITES = {
    "provider.user_id": "INSERT INTO provider (clinic_id, first_name, last_name, user_id)"
    " VALUES ({}, 'A', 'A', {user})",
    "patient.user_id": "INSERT INTO patient (clinic_id, first_name, last_name, user_id)"
    " VALUES ({}, 'A', 'A', {user})",
    "auth_session.user_id": "INSERT INTO auth_session (id, clinic_id, user_id, expires_at)"
    " VALUES (gen_random_uuid(), {}, {user}, now())",
    "email_token.user_id": "INSERT INTO email_token (token_hash, clinic_id, user_id, purpose,"
    " expires_at) VALUES (gen_random_uuid()::text, {}, {user}, 'verify_email', now())",
    "refresh_token.session_id": "INSERT INTO refresh_token (token_hash, clinic_id, session_id,"
    " expires_at) VALUES (gen_random_uuid()::text, {}, {session}, now())",
    "working_hours.provider_id": "INSERT INTO working_hours (clinic_id, provider_id, weekday,"
    " start_minute, end_minute) VALUES ({}, {provider}, 1, 0, 60)",
    "time_off.provider_id": "INSERT INTO time_off (clinic_id, provider_id, starts_at, ends_at)"
    " VALUES ({}, {provider}, now(), now() + interval '1 hour')",
    "provider_service.provider_id": "INSERT INTO provider_service (clinic_id, provider_id,"
    " service_id) VALUES ({}, {provider}, {service})",
}


@pytest.mark.parametrize("reference", sorted(CROSS_CLINIC_WRITES))
async def test_a_row_cannot_point_at_another_clinics_row(reference: str) -> None:
    mine, theirs = await _two_clinics()
    sql = CROSS_CLINIC_WRITES[reference]
    for key, value in theirs.items():
        sql = sql.replace("{" + key + "}", f"'{value}'")
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await _write(mine, sql, mine)


async def _offer(clinic_id: uuid.UUID, service_id: uuid.UUID) -> None:
    """A provider of `clinic_id` offering `service_id`."""
    async with db.tenant_transaction(clinic_id):
        [own] = await db.fetch(
            "INSERT INTO provider (clinic_id, first_name, last_name) VALUES ({}, 'A', 'A')"
            " RETURNING id",
            clinic_id,
        )
        await db.fetch(
            "INSERT INTO provider_service (clinic_id, provider_id, service_id) VALUES ({}, {}, {})",
            clinic_id,
            own["id"],
            service_id,
        )


async def test_provider_service_cannot_offer_another_clinics_service() -> None:
    mine, theirs = await _two_clinics()
    with pytest.raises(asyncpg.ForeignKeyViolationError) as caught:
        await _offer(mine, theirs["service"])
    assert caught.value.constraint_name == "provider_service_service_id_fkey"


async def _publish_in(clinic_id: uuid.UUID) -> uuid.UUID:
    # A declared name: the outbox outlives this test, and tests/events/test_catalogue.py
    # checks that every name in it is declared, whichever order the two run in.
    event_id = uuid.uuid4()
    async with db.tenant_transaction(clinic_id):
        await db.fetch(
            "INSERT INTO event_outbox (id, name, clinic_id, occurred_at, due_at, entity_type)"
            " VALUES ({}, 'clinic.updated', {}, now(), now(), 'clinic')",
            event_id,
            clinic_id,
        )
        await db.fetch(
            "INSERT INTO event_delivery (event_id, handler, next_attempt_at)"
            " VALUES ({}, 'test', now())",
            event_id,
        )
    return event_id


async def test_event_deliveries_are_tenant_scoped_and_the_relay_sees_all() -> None:
    [forced] = await db.fetch(
        "SELECT relrowsecurity AND relforcerowsecurity AS on FROM pg_class"
        " WHERE oid = 'event_delivery'::regclass"
    )
    assert forced["on"]
    mine, theirs = (await seed_clinic(())).id, (await seed_clinic(())).id
    my_event, their_event = await _publish_in(mine), await _publish_in(theirs)
    async with db.tenant_transaction(mine):
        seen = {r["event_id"] for r in await db.fetch("SELECT event_id FROM event_delivery")}
        touched = await db.fetch(
            "UPDATE event_delivery SET attempts = attempts + 1 WHERE event_id = {}"
            " RETURNING event_id",
            their_event,
        )
    assert my_event in seen
    assert their_event not in seen
    assert touched == []
    with pytest.raises(asyncpg.InsufficientPrivilegeError):  # the policy's WITH CHECK
        await _write(
            mine,
            "INSERT INTO event_delivery (event_id, handler, next_attempt_at)"
            " VALUES ({}, 'other', now())",
            their_event,
        )
    async with db.tenant_transaction(None):  # the relay
        relay = {r["event_id"] for r in await db.fetch("SELECT event_id FROM event_delivery")}
    assert {my_event, their_event} <= relay
