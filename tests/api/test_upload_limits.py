"""SPEC §9 at the edges: 10 MiB enforced while streaming (nothing buffered, storage never
gets more), types decided by the bytes, filenames sanitized, every malformed form a 4xx."""

from __future__ import annotations

import tracemalloc
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.auth_fixtures import SeededClinic, csrf
from tests.api.patient_fixtures import link_patient
from tests.api.upload_fixtures import JPEG, PDF, PNG, UPLOADS, assert_problem, sha256, upload
from topsmile.core import db
from topsmile.core.middleware import EdgeMiddleware
from topsmile.uploads.form import MAX_FILE_BYTES

MiB = 1024 * 1024
CHUNK = 64 * 1024
BOUNDARY = "upload-test-boundary"


@pytest.fixture
async def patient_id(clinic: SeededClinic) -> uuid.UUID:
    return await link_patient(clinic)


@pytest.fixture
def storage_root(app: EdgeMiddleware) -> Path:
    root: Path = app.app.state.runtime.storage.root
    return root


async def stored_count(clinic: SeededClinic) -> int:
    async with db.tenant_transaction(clinic.id):
        [row] = await db.fetch("SELECT count(*) AS n FROM upload")
    return int(row["n"])


def temp_files(root: Path) -> list[Path]:
    folder = root / "tmp"
    return list(folder.iterdir()) if folder.is_dir() else []


# --- Size ------------------------------------------------------------------------------------


def _part_head(patient_id: uuid.UUID) -> bytes:
    return (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="category"\r\n\r\nxray\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="patientId"\r\n\r\n{patient_id}\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.pdf"\r\n'
        "Content-Type: application/pdf\r\n\r\n"
    ).encode()


async def test_an_11_mib_upload_is_413_while_streaming_and_storage_never_gets_more(
    staff: httpx.AsyncClient, clinic: SeededClinic, patient_id: uuid.UUID, storage_root: Path
) -> None:
    largest_temp = 0
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        """11 MiB of file made on the fly; before each chunk, look at what storage holds."""
        nonlocal largest_temp, sent
        yield _part_head(patient_id)
        chunk = b"%PDF-" + b"x" * (CHUNK - 5)
        while sent < 11 * MiB:
            largest_temp = max(
                [largest_temp, *(p.stat().st_size for p in temp_files(storage_root))]
            )
            yield chunk
            sent += len(chunk)
            chunk = b"x" * CHUNK
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    headers = {**csrf(staff), "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    tracemalloc.start()
    try:
        response = await staff.post(UPLOADS, content=body(), headers=headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert_problem(response, 413, "payload-too-large")
    assert 0 < largest_temp <= MAX_FILE_BYTES
    assert sent <= MAX_FILE_BYTES + CHUNK  # it stopped reading at the limit
    assert peak < 3 * MiB, f"peak {peak} bytes: the body was buffered"
    assert temp_files(storage_root) == []
    assert await stored_count(clinic) == 0


async def test_a_file_of_exactly_10_mib_is_accepted(
    staff: httpx.AsyncClient, patient_id: uuid.UUID
) -> None:
    data = PDF + b"\n" * (MAX_FILE_BYTES - len(PDF))
    body = (await upload(staff, data, patient_id=patient_id)).json()
    assert (body["size"], body["sha256"]) == (MAX_FILE_BYTES, sha256(data))
    assert (await staff.get(body["url"])).content == data


async def test_a_content_length_far_over_the_limit_is_refused_before_reading(
    staff: httpx.AsyncClient,
) -> None:
    read = False

    async def body() -> AsyncIterator[bytes]:
        nonlocal read
        read = True
        yield b"--x\r\n"

    headers = {
        **csrf(staff),
        "Content-Type": "multipart/form-data; boundary=x",
        "Content-Length": str(100 * MiB),
    }
    response = await staff.post(UPLOADS, content=body(), headers=headers)
    assert_problem(response, 413, "payload-too-large")
    assert not read


# --- Type ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "filename", "declared"),
    [
        (b"#!/bin/sh\nrm -rf /\n", "smile.png", "image/png"),  # a disguised text file
        (b"<svg onload=alert(1)>", "smile.png", None),
        (b"GIF89a\x01\x00\x01\x00", "smile.gif", "image/gif"),  # real, but not allowed
        (b"", "empty.pdf", "application/pdf"),
        (PNG, "smile.jpg", "image/jpeg"),  # declared and actual disagree
        (PDF, "consent.png", "image/png"),
        (JPEG, "x.pdf", "application/pdf"),
    ],
)
async def test_anything_but_an_allowed_type_that_it_claims_is_415(
    staff: httpx.AsyncClient,
    clinic: SeededClinic,
    patient_id: uuid.UUID,
    storage_root: Path,
    data: bytes,
    filename: str,
    declared: str | None,
) -> None:
    response = await upload(
        staff, data, filename=filename, content_type=declared, patient_id=patient_id, status=None
    )
    assert_problem(response, 415, "unsupported-media-type")
    assert await stored_count(clinic) == 0
    assert temp_files(storage_root) == []


async def test_usual_aliases_of_a_type_are_its_claim(
    staff: httpx.AsyncClient, patient_id: uuid.UUID
) -> None:
    body = (await upload(staff, JPEG, content_type="image/jpg", patient_id=patient_id)).json()
    assert body["contentType"] == "image/jpeg"


# --- Names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("../../etc/passwd.png", "passwd.png"),
        ("..\\..\\Windows\\system.ini.png", "system.ini.png"),
        ("/var/lib/topsmile/x.png", "x.png"),
        ("\u202egnp.exe.png", "gnp.exe.png"),  # a right-to-left override would hide the type
        ("...", "upload.png"),
        ("", "upload.png"),
        ("../", "upload.png"),
        ("x" * 300 + ".png", "x" * 251 + ".png"),
    ],
)
async def test_filenames_are_sanitized_and_never_reach_the_storage_path(
    staff: httpx.AsyncClient,
    clinic: SeededClinic,
    patient_id: uuid.UUID,
    storage_root: Path,
    sent: str,
    kept: str,
) -> None:
    body = (
        await upload(staff, PNG, filename=sent, content_type="image/png", patient_id=patient_id)
    ).json()
    assert body["filename"] == kept
    async with db.tenant_transaction(clinic.id):
        [row] = await db.fetch(
            "SELECT storage_key FROM upload WHERE id = {}", uuid.UUID(body["id"])
        )
    assert row["storage_key"] == f"{clinic.id}/{body['id']}"
    assert (storage_root / row["storage_key"]).read_bytes() == PNG
    assert not list(storage_root.parent.rglob("passwd.png"))


async def test_control_characters_are_dropped_from_names(
    staff: httpx.AsyncClient, patient_id: uuid.UUID
) -> None:
    # Sent raw: httpx would percent-encode them, as browsers do.
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        'filename="a\tb\x7f\x1bc.png"\r\nContent-Type: image/png\r\n\r\n'
    ).encode()
    content = head + PNG + b"\r\n" + _form(CATEGORY, ("patientId", None, str(patient_id).encode()))
    headers = {**csrf(staff), "Content-Type": MULTIPART}
    response = await staff.post(UPLOADS, content=content, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["filename"] == "abc.png"


# --- Malformed forms -------------------------------------------------------------------------


def _form(*parts: tuple[str, str | None, bytes]) -> bytes:
    out = b""
    for name, filename, value in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        out += (
            f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"
FILE = ("file", "a.pdf", PDF)
CATEGORY = ("category", None, b"xray")


@pytest.mark.parametrize(
    ("content_type", "content", "status", "field"),
    [
        ("application/json", b'{"category": "xray"}', 415, None),
        ("text/plain", _form(FILE, CATEGORY), 415, None),
        (None, _form(FILE, CATEGORY), 415, None),
        ("multipart/form-data", _form(FILE, CATEGORY), 400, "body"),
        (MULTIPART, b"", 400, "body"),
        (MULTIPART, b"\x00\x01garbage", 400, "body"),
        (MULTIPART, _form(FILE, CATEGORY)[:-30], 400, "body"),  # cut before its end
        (MULTIPART, _form(CATEGORY), 400, "file"),
        (MULTIPART, _form(FILE), 400, "category"),
        (MULTIPART, _form(FILE, ("category", None, b"selfie")), 400, "category"),
        (MULTIPART, _form(FILE, CATEGORY, ("patientId", None, b"nope")), 400, "patientId"),
        (MULTIPART, _form(FILE, CATEGORY, ("notes", None, b"hi")), 400, "notes"),
        (MULTIPART, _form(FILE, FILE, CATEGORY), 400, "file"),
        (MULTIPART, _form(FILE, CATEGORY, CATEGORY), 400, "category"),
        (MULTIPART, _form(FILE, ("category", None, b"x" * 1000)), 400, "category"),
        (MULTIPART, _form(FILE, ("category", None, b"\xff\xfe")), 400, "category"),
    ],
)
async def test_every_malformed_form_is_a_clean_4xx_and_keeps_nothing(
    as_role: dict[str, httpx.AsyncClient],
    clinic: SeededClinic,
    storage_root: Path,
    content_type: str | None,
    content: bytes,
    status: int,
    field: str | None,
) -> None:
    for role in ("receptionist", "patient"):
        client = as_role[role]
        headers = csrf(client) | ({"Content-Type": content_type} if content_type else {})
        response = await client.post(UPLOADS, content=content, headers=headers)
        code = "unsupported-media-type" if status == 415 else "validation-error"
        assert_problem(response, status, code)
        if field is not None and role == "patient":  # staff may also miss the patientId
            assert response.json()["errors"][0]["field"] == field, response.text
    assert await stored_count(clinic) == 0
    assert temp_files(storage_root) == []


async def test_an_upload_needs_the_csrf_header(
    staff: httpx.AsyncClient, patient_id: uuid.UUID
) -> None:
    response = await staff.post(
        UPLOADS,
        files={"file": ("a.pdf", PDF, "application/pdf")},
        data={"category": "xray", "patientId": str(patient_id)},
    )
    assert_problem(response, 403, "csrf-failed")


PARTS = st.sampled_from(
    [
        b"--%s\r\n" % BOUNDARY.encode(),
        b"--%s--\r\n" % BOUNDARY.encode(),
        b'Content-Disposition: form-data; name="file"; filename="a.pdf"\r\n',
        b'Content-Disposition: form-data; name="category"\r\n',
        b'Content-Disposition: form-data; name="patientId"\r\n',
        b"Content-Type: application/pdf\r\n",
        b"\r\n",
        b"xray",
        PDF,
        PNG[:20],
    ]
)


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(parts=st.lists(st.one_of(PARTS, st.binary(max_size=40)), max_size=12))
async def test_no_multipart_body_gets_a_5xx(
    as_role: dict[str, httpx.AsyncClient],
    patient_id: uuid.UUID,  # the patient has a record, so a well-formed body is stored
    storage_root: Path,
    parts: list[bytes],
) -> None:
    patient = as_role["patient"]
    headers = {**csrf(patient), "Content-Type": MULTIPART}
    response = await patient.post(UPLOADS, content=b"".join(parts), headers=headers)
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json"
    assert temp_files(storage_root) == []
