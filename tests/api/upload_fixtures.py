"""Tiny valid files of each allowed type, and helpers to upload and read them over HTTP."""

from __future__ import annotations

import hashlib
import struct
import zlib
from typing import Any

import httpx

from tests.api.auth_fixtures import csrf

UPLOADS = "/api/upload"


def _png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    pixels = zlib.compress(b"\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def _webp() -> bytes:
    payload = b"WEBPVP8L" + struct.pack("<I", 5) + b"\x2f\x00\x00\x00\x00" + b"\x00"
    return b"RIFF" + struct.pack("<I", len(payload)) + payload


PDF = b"%PDF-1.4\n1 0 obj<</Type/Catalog>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n"
PNG = _png()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
WEBP = _webp()
# DICOM Part 10: a 128-byte preamble, "DICM", then the file meta group (its length element).
DICOM = b"\x00" * 128 + b"DICM" + b"\x02\x00\x00\x00UL\x04\x00" + struct.pack("<I", 0)

# (bytes, filename, declared part type, stored type)
FILES = {
    "pdf": (PDF, "consent.pdf", "application/pdf", "application/pdf"),
    "png": (PNG, "smile.png", "image/png", "image/png"),
    "jpeg": (JPEG, "smile.jpg", "image/jpeg", "image/jpeg"),
    "webp": (WEBP, "smile.webp", "image/webp", "image/webp"),
    "dicom": (DICOM, "panoramic.dcm", "application/dicom", "application/dicom"),
    # Browsers and curl send octet-stream for extensions they do not know: no claim, so the
    # bytes decide (SPEC §9 left this open; docs/SECURITY.md "Uploads").
    "dicom as octet-stream": (DICOM, "scan.dcm", "application/octet-stream", "application/dicom"),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def upload(
    client: httpx.AsyncClient,
    data: bytes,
    *,
    filename: str = "file.pdf",
    content_type: str | None = "application/pdf",
    category: str | None = "other",
    patient_id: Any = None,
    status: int | None = 201,
    extra: dict[str, str] | None = None,
) -> httpx.Response:
    fields = {"category": category, "patientId": str(patient_id) if patient_id else None}
    form = {k: v for k, v in fields.items() if v is not None} | (extra or {})
    part = (filename, data) if content_type is None else (filename, data, content_type)
    response = await client.post(UPLOADS, files={"file": part}, data=form, headers=csrf(client))
    if status is not None:
        assert response.status_code == status, response.text
    return response


def assert_problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == f"/problems/{code}"
