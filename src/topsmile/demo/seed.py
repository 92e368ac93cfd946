"""The demo clinic: seeded by `topsmile demo`, and by `topsmile serve` on an empty database.

A believable small practice in São Paulo: an admin, a manager and a receptionist, three
providers with different hours and a lunch break, six services with realistic durations,
prices (BRL, in centavos) and buffers, and twenty patients who can sign in.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from topsmile.auth.passwords import Hasher
from topsmile.clinics import queries
from topsmile.clinics.schemas import AdminInput, ClinicSignup
from topsmile.clinics.service import create_clinic
from topsmile.core import clock, db
from topsmile.core.actor import Actor, Role
from topsmile.patients.linking import link_or_create_patient
from topsmile.scheduling import availability_service, booking, catalogue, providers
from topsmile.scheduling.availability_service import AvailabilityQuery
from topsmile.scheduling.schemas import (
    AppointmentCreate,
    PeriodCreate,
    ProviderCreate,
    ServiceCreate,
    WorkingInterval,
)
from topsmile.uploads.schemas import UploadFields
from topsmile.uploads.service import store_bytes
from topsmile.uploads.storage import Storage
from topsmile.users.schemas import StaffUserCreate
from topsmile.users.service import create_user, insert_user

SLUG = "sorriso"
PASSWORD = "Sorriso-Demo-2026"  # noqa: S105 - the demo clinic's published password
DOMAIN = "sorriso.example.com"

SERVICES = [
    # name, minutes, price (centavos), buffer before, buffer after, colour, category, approval
    ("Cleaning", 45, 18000, None, 10, "#4CAF50", "preventive", False),
    ("Check-up", 30, 12000, None, None, "#2196F3", "preventive", False),
    ("Filling", 60, 35000, 5, 10, "#FF9800", "restorative", False),
    ("Root canal", 90, 120000, 10, 15, "#9C27B0", "endodontics", True),
    ("Whitening", 60, 80000, 0, 15, "#00BCD4", "cosmetic", False),
    ("Emergency", 30, 25000, 0, 0, "#F44336", "urgent", False),
]
# (first, last, specialty, services by index, hours per weekday as (start, end) pairs)
PROVIDERS = [
    (
        "Helena",
        "Ribeiro",
        "General dentistry",
        [0, 1, 2, 5],
        {d: [("08:00", "12:00"), ("13:00", "17:00")] for d in (1, 2, 3, 4, 5)},
    ),
    (
        "Marcos",
        "Tanaka",
        "Endodontics",
        [1, 2, 3, 5],
        {
            **{d: [("10:00", "13:00"), ("14:00", "19:00")] for d in (1, 3, 5)},
            6: [("08:00", "12:00")],
        },
    ),
    (
        "Juliana",
        "Alves",
        "Cosmetic dentistry",
        [0, 4],
        {d: [("09:00", "12:30"), ("13:30", "18:00")] for d in (2, 4)},
    ),
]
PATIENTS = [
    ("Ana", "Souza"),
    ("Bruno", "Oliveira"),
    ("Carla", "Santos"),
    ("Diego", "Pereira"),
    ("Eduarda", "Lima"),
    ("Felipe", "Carvalho"),
    ("Gabriela", "Gomes"),
    ("Henrique", "Martins"),
    ("Isabela", "Rocha"),
    ("João", "Almeida"),
    ("Larissa", "Costa"),
    ("Mateus", "Barbosa"),
    ("Natália", "Ferreira"),
    ("Otávio", "Mendes"),
    ("Paula", "Cardoso"),
    ("Rafael", "Teixeira"),
    ("Sofia", "Moreira"),
    ("Thiago", "Nunes"),
    ("Vitória", "Araújo"),
    ("Yuri", "Campos"),
]


@dataclass(frozen=True)
class DemoLogins:
    clinic: str
    password: str
    admin: str
    manager: str
    receptionist: str
    patient: str


LOGINS = DemoLogins(
    clinic=SLUG,
    password=PASSWORD,
    admin=f"admin@{DOMAIN}",
    manager=f"manager@{DOMAIN}",
    receptionist=f"recepcao@{DOMAIN}",
    patient=f"ana.souza@{DOMAIN}",
)

# A one-page consent form, the smallest PDF a viewer opens.
CONSENT_PDF = (
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    b"2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    b"3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]>>endobj\n"
    b"trailer<</Root 1 0 R>>\n%%EOF\n"
)


async def seed_if_empty(hasher: Hasher, storage: Storage | None = None) -> bool:
    """`serve` on an empty database (no clinic at all) seeds the demo clinic."""
    async with db.tenant_transaction(None):
        empty = not await queries.any_clinic()
    return empty and await seed(hasher, storage=storage)


async def exists() -> bool:
    async with db.tenant_transaction(None):
        return await queries.clinic_by_slug(SLUG) is not None


async def seed(hasher: Hasher, slug: str = SLUG, storage: Storage | None = None) -> bool:
    """Create the demo clinic unless it exists; True when it was created now.

    Every kind of record the API serves has at least one row here: the cross-clinic tenancy
    test seeds another clinic with this and finds its ids by listing them. Patient files
    need `storage` (where their bytes go); without one the demo has none.
    """
    async with db.tenant_transaction(None):
        if await queries.clinic_by_slug(slug) is not None:
            return False
    created = await create_clinic(
        hasher,
        ClinicSignup(
            name="Clínica Sorriso",
            slug=slug,
            timezone="America/Sao_Paulo",
            currency="brl",
            admin=AdminInput(
                email=LOGINS.admin, password=PASSWORD, first_name="Renata", last_name="Duarte"
            ),
        ),
    )
    clinic_id = created.clinic.id
    admin = Actor(clinic_id, created.admin.id, "admin")
    staff: list[tuple[str, Role, str, str]] = [
        (LOGINS.manager, "manager", "Paulo", "Freitas"),
        (LOGINS.receptionist, "receptionist", "Camila", "Rezende"),
    ]
    for email, role, first, last in staff:
        await create_user(
            hasher,
            StaffUserCreate(
                email=email,
                password=PASSWORD,
                first_name=first,
                last_name=last,
                role=role,
            ),
            actor=admin,
        )
    service_ids = []
    for name, minutes, price, before, after, color, category, approval in SERVICES:
        row = await catalogue.create_service(
            admin,
            ServiceCreate(
                name=name,
                duration_minutes=minutes,
                price_amount=price,
                buffer_before_minutes=before,
                buffer_after_minutes=after,
                color=color,
                category=category,
                requires_approval=approval,
            ),
        )
        service_ids.append(row.id)
    provider_ids = []
    for first, last, specialty, offered, hours in PROVIDERS:
        provider = await providers.create_provider(
            admin,
            ProviderCreate(
                first_name=first,
                last_name=last,
                specialty=specialty,
                email=f"{first.lower()}@{DOMAIN}",
                service_ids=[service_ids[i] for i in offered],
                buffer_after_minutes=5,
            ),
        )
        intervals = [
            WorkingInterval(weekday=day, start=start, end=end)
            for day, spans in hours.items()
            for start, end in spans
        ]
        await providers.set_working_hours(admin, provider.id, intervals)
        provider_ids.append(provider.id)
    for week, provider_id in enumerate(provider_ids):  # each takes a week off in January
        monday = date(2027, 1, 4 + 7 * week)
        await providers.add_time_off(
            admin,
            provider_id,
            PeriodCreate(
                start=_local(monday, 0),
                end=_local(monday + timedelta(days=5), 0),
                reason="Vacation",
            ),
        )
    await catalogue.add_closure(
        admin,
        PeriodCreate(
            start=_local(date(2026, 12, 24), 12),
            end=_local(date(2026, 12, 26), 0),
            reason="Christmas",
        ),
    )
    patient_ids = await _patients(hasher, clinic_id)
    await _appointments(admin, service_ids[0], provider_ids[0], patient_ids[:3])
    if storage is not None:
        fields = UploadFields(patient_id=patient_ids[0], category="consent_form")
        await store_bytes(admin, storage, CONSENT_PDF, "consent-form.pdf", fields)
    return True


async def _appointments(
    admin: Actor, service_id: uuid.UUID, provider_id: uuid.UUID, patient_ids: list[uuid.UUID]
) -> None:
    """A few bookings in the coming week, made through booking like any other."""
    today = clock.now().astimezone(ZoneInfo("America/Sao_Paulo")).date()
    tomorrow = (today + timedelta(days=1)).isoformat()
    query = AvailabilityQuery(service_id, provider_id, tomorrow)
    for patient_id in patient_ids:
        free = (await availability_service.availability(admin, query)).slots
        if free:
            start = free[len(free) // 3].start
            body = AppointmentCreate(
                service_id=service_id, provider_id=provider_id, start=start, patient_id=patient_id
            )
            await booking.book(admin, body)


async def _patients(hasher: Hasher, clinic_id: uuid.UUID) -> list[uuid.UUID]:
    password_hash = await hasher.hash(PASSWORD)
    ids = []
    async with db.tenant_transaction(clinic_id):
        for index, (first, last) in enumerate(PATIENTS):
            email = f"{_ascii(first)}.{_ascii(last)}@{DOMAIN}"
            user = await insert_user(
                clinic_id,
                email=email,
                password_hash=password_hash,
                first_name=first,
                last_name=last,
                role="patient",
                email_verified=True,
            )
            phone = f"+55119{index:04d}{(7919 * (index + 3)) % 10000:04d}"
            record = await link_or_create_patient(
                clinic_id,
                user.id,
                email,
                first,
                last,
                phone,
                date(1960 + (index * 7) % 45, 1 + index % 12, 1 + (index * 5) % 28),
                sms_opt_in=index % 3 != 0,
            )
            ids.append(record.id)
    return ids


def _local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), ZoneInfo("America/Sao_Paulo"))


def _ascii(name: str) -> str:
    table = str.maketrans("áàâãéêíóôõúçÁÉÍÓÚ", "aaaaeeiooouc" + "AEIOU")
    return name.translate(table).lower()


def describe(base_url: str) -> str:
    return "\n".join(
        [
            f"Demo clinic '{LOGINS.clinic}' (all passwords: {LOGINS.password}):",
            f"  admin         {LOGINS.admin}",
            f"  manager       {LOGINS.manager}",
            f"  receptionist  {LOGINS.receptionist}",
            f"  patient       {LOGINS.patient}  (and 19 more patients)",
            f'  sign in: POST {base_url}/api/auth/login {{"clinic": "{LOGINS.clinic}", ...}}',
        ]
    )
