"""What a file is, decided by its own first bytes (SPEC §9), and the name it is kept under.

Pure functions, no I/O. The declared type of the multipart part is a claim the bytes must
back up: a part that names a type other than the one its bytes show is refused (415), so a
script saved as `x.png` with `Content-Type: image/png` never reaches storage.
"""

from __future__ import annotations

import os
import re
import unicodedata

PDF = "application/pdf"
PNG = "image/png"
JPEG = "image/jpeg"
WEBP = "image/webp"
DICOM = "application/dicom"
ALLOWED = (PDF, PNG, JPEG, WEBP, DICOM)

# How many leading bytes sniffing needs: DICOM's 128-byte preamble and its "DICM" magic.
HEAD_BYTES = 132

_EXTENSIONS = {PDF: ".pdf", PNG: ".png", JPEG: ".jpg", WEBP: ".webp", DICOM: ".dcm"}
# Other names clients use for the same types.
_ALIASES = {
    "image/jpg": JPEG,
    "image/pjpeg": JPEG,
    "application/x-pdf": PDF,
    "image/x-png": PNG,
}
# Parts that make no claim about their type: no Content-Type at all, or the generic one that
# browsers and curl send for an extension they do not know (`.dcm` files usually come so).
# The bytes decide alone, and the stored type is the sniffed one.
NO_CLAIM = frozenset({"", "application/octet-stream"})

MAX_FILENAME = 255
_FORBIDDEN = re.compile(r'[\\/:*?"<>|]')


def sniff(head: bytes) -> str | None:
    """The allowed type whose signature `head` (the file's first bytes) starts with."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if len(head) >= HEAD_BYTES and head[128:132] == b"DICM":
        return DICOM
    return None


def claim_matches(declared: str | None, actual: str) -> bool:
    """Does the part's declared Content-Type (media type only, any case) agree with `actual`?"""
    media_type = (declared or "").split(";")[0].strip().lower()
    if media_type in NO_CLAIM:
        return True
    return _ALIASES.get(media_type, media_type) == actual


def safe_filename(sent: str | None, content_type: str) -> str:
    """The name a file is shown and downloaded under: the last path segment of what the
    client sent, without control characters, path separators or characters Windows refuses,
    no leading dots, at most 255 characters (the extension kept); `upload.<ext>` when nothing
    usable is left. It is only ever a label: storage paths never come from it."""
    name = unicodedata.normalize("NFC", sent or "")
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = _FORBIDDEN.sub("_", name).strip().lstrip(".").strip()
    if len(name) > MAX_FILENAME:
        stem, extension = os.path.splitext(name)
        extension = extension if len(extension) <= 16 else ""
        name = stem[: MAX_FILENAME - len(extension)] + extension
    return name or "upload" + _EXTENSIONS[content_type]
