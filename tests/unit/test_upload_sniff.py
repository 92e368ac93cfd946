"""uploads/sniff.py: types from bytes, declared-type claims, safe names."""

from __future__ import annotations

import pytest

from tests.api.upload_fixtures import DICOM, JPEG, PDF, PNG, WEBP
from topsmile.uploads.sniff import claim_matches, safe_filename, sniff


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (WEBP, "image/webp"),
        (DICOM, "application/dicom"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),  # RIFF, but audio
        (b"\x00" * 128 + b"DICX", None),
        (b"\x00" * 131, None),
        (b"%PDF", None),
        (b"", None),
        (b"\xef\xbb\xbf%PDF-1.4", None),  # a BOM in front: not where the signature must be
    ],
)
def test_sniff(head: bytes, kind: str | None) -> None:
    assert sniff(head) == kind


@pytest.mark.parametrize(
    ("declared", "actual", "ok"),
    [
        (None, "image/png", True),
        ("", "image/png", True),
        ("application/octet-stream", "application/dicom", True),
        ("IMAGE/PNG; name=x", "image/png", True),
        ("image/jpg", "image/jpeg", True),
        ("image/png", "image/jpeg", False),
        ("text/plain", "application/pdf", False),
        ("application/dicom", "application/pdf", False),
    ],
)
def test_claim_matches(declared: str | None, actual: str, ok: bool) -> None:
    assert claim_matches(declared, actual) is ok


def test_safe_filename_keeps_the_extension_when_it_cuts() -> None:
    name = safe_filename("é" * 400 + ".jpeg", "image/jpeg")
    assert len(name) == 255
    assert name.endswith("é.jpeg")
    assert safe_filename('a<b>:c"d|e?f*.pdf', "application/pdf") == "a_b__c_d_e_f_.pdf"
    assert safe_filename(None, "application/dicom") == "upload.dcm"
    assert safe_filename("C:\\Users\\ana\\raio x.dcm", "application/dicom") == "raio x.dcm"
