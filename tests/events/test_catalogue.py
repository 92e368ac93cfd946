"""The event catalogue: every published name is declared once, with a payload type that is
checked by mypy where the event is built and again by `publish()` inside the transaction."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import msgspec
import pytest

from tests.events.conftest import reminder
from topsmile.core import db
from topsmile.core.actor import Actor
from topsmile.core.middleware import EdgeMiddleware
from topsmile.demo import seed as demo
from topsmile.events import catalogue
from topsmile.events.catalogue import Changed, InvalidEvent, NoPayload, declare
from topsmile.events.outbox import publish
from topsmile.events.types import AppointmentNotice, Event, new_event
from topsmile.notifications.handlers import EMAIL_TEMPLATES, SMS_TEMPLATES, parse_payload
from topsmile.patients.events import PATIENT_CREATED, PATIENT_UPDATED

pytestmark = pytest.mark.usefixtures("app")

ROOT = Path(__file__).resolve().parents[2]

# The names the audit trail and the notifications are known to carry (SPEC §4, §5, §7 and
# the tests of each domain).
EXPECTED = {
    "auth.login_failed",
    "auth.login_succeeded",
    "auth.refresh_reuse_detected",
    "user.registered",
    "user.password_reset_requested",
    "user.password_changed",
    "user.created",
    "user.role_changed",
    "user.activated",
    "user.deactivated",
    "user.updated",
    "clinic.created",
    "clinic.updated",
    "patient.created",
    "patient.updated",
    "patient.deactivated",
    "provider.created",
    "provider.updated",
    "provider.deactivated",
    "provider.hours_changed",
    "provider.time_off_added",
    "provider.time_off_removed",
    "service.created",
    "service.updated",
    "service.deactivated",
    "closure.created",
    "closure.removed",
    "appointment.created",
    "appointment.rescheduled",
    "appointment.cancelled",
    "appointment.reminder_due",
    "payment.succeeded",
}


async def _stored(*event_ids: uuid.UUID) -> list[dict[str, object]]:
    async with db.tenant_transaction(None):
        return await db.fetch(
            "SELECT id FROM event_outbox WHERE id = ANY({}::uuid[])", list(event_ids)
        )


def test_the_catalogue_declares_every_known_event() -> None:
    assert set(catalogue.declared()) >= EXPECTED


def test_notifications_subscribe_only_declared_events() -> None:
    for name in [*EMAIL_TEMPLATES, *SMS_TEMPLATES]:
        assert catalogue.lookup(name).name == name


async def test_every_event_published_by_the_app_is_declared(app: EdgeMiddleware) -> None:
    """The demo seeder runs the services of every domain; the whole outbox (every test's
    events so far too) holds only declared names, each about its declared entity type."""
    runtime = app.app.state.runtime
    slug = f"catalogue-{uuid.uuid4().hex[:8]}"
    await demo.seed(runtime.hasher, slug=slug, storage=runtime.storage)
    async with db.tenant_transaction(None):
        rows = await db.fetch("SELECT DISTINCT name, entity_type FROM event_outbox")
    assert len(rows) >= 5
    for row in rows:
        assert catalogue.lookup(str(row["name"])).entity_type == row["entity_type"]


def test_a_name_is_declared_once() -> None:
    with pytest.raises(InvalidEvent, match="already declared"):
        declare("patient.created", "patient", NoPayload)


async def test_a_payload_of_the_wrong_shape_fails_at_publish_and_nothing_is_written() -> None:
    actor = Actor.system(uuid.uuid4())
    fine = new_event(PATIENT_CREATED, NoPayload(), actor=actor, entity_id=uuid.uuid4())
    good = new_event(PATIENT_UPDATED, Changed(fields=["firstName"]), actor=actor)
    wrong = msgspec.structs.replace(good, id=uuid.uuid4(), payload={"fields": "firstName"})

    async def change_then_publish() -> None:
        async with db.tenant_transaction(actor.clinic_id):
            await publish(fine)
            await publish(wrong)

    with pytest.raises(InvalidEvent, match=r"patient\.updated: payload is not a Changed"):
        await change_then_publish()
    assert await _stored(fine.id, wrong.id) == []


@pytest.mark.parametrize(
    "change",
    [
        {"payload": {"fields": ["firstName"], "email": "ana@example.com"}},  # unknown key
        {"payload": {}},  # a required field missing
        {"name": "patient.merged"},  # never declared
        {"entity_type": "provider"},  # not what the name is about
    ],
    ids=["unknown-key", "missing-field", "undeclared", "wrong-entity"],
)
async def test_publish_refuses_what_the_catalogue_does_not_declare(
    change: dict[str, object],
) -> None:
    actor = Actor.system(uuid.uuid4())
    good = new_event(PATIENT_UPDATED, Changed(fields=["firstName"]), actor=actor)
    bad: Event = msgspec.structs.replace(good, **change)
    with pytest.raises(InvalidEvent):
        async with db.tenant_transaction(actor.clinic_id):
            await publish(bad)
    assert await _stored(bad.id) == []


def test_the_handler_reads_a_payload_with_its_declared_type() -> None:
    """No guessing by name prefix: an appointment event whose payload is an account token
    is refused, and an undeclared `appointment.*` name is not read as an appointment."""
    event = reminder(uuid.uuid4())
    notice = parse_payload(event)
    assert isinstance(notice, AppointmentNotice)
    assert msgspec.to_builtins(notice) == event.payload
    with pytest.raises(InvalidEvent):
        parse_payload(msgspec.structs.replace(event, payload={"token_id": str(uuid.uuid4())}))
    with pytest.raises(InvalidEvent):
        parse_payload(msgspec.structs.replace(event, name="appointment.moved"))


def test_mypy_rejects_a_payload_of_another_type(tmp_path: Path) -> None:
    """`new_event(kind, payload)` is typed: the wrong payload fails the type check."""
    snippet = tmp_path / "wrong_payload.py"
    snippet.write_text(
        "import uuid\n"
        "from topsmile.core.actor import Actor\n"
        "from topsmile.events.catalogue import Changed, NoPayload\n"
        "from topsmile.events.types import new_event\n"
        "from topsmile.patients.events import PATIENT_UPDATED\n"
        "actor = Actor.system(uuid.uuid4())\n"
        "new_event(PATIENT_UPDATED, Changed(fields=['x']), actor=actor)\n"
        "new_event(PATIENT_UPDATED, NoPayload(), actor=actor)  # line 8\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(snippet)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["8"], result.stdout
