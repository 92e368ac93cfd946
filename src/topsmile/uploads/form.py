"""`POST /api/upload`'s multipart body, read as it streams in (never buffered whole).

The file part goes chunk by chunk into a storage temp file while its SHA-256 and size are
computed; the moment it would pass `MAX_FILE_BYTES` the upload stops with 413, before that
chunk is written. The small text fields are kept in memory, each capped. Parsing is the
sans-I/O `PushMultipartParser` of the `multipart` package, which Litestar itself uses.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from multipart import MultipartError, MultipartSegment, PushMultipartParser, parse_options_header

from topsmile.core.errors import PayloadTooLarge, UnsupportedMediaType, ValidationError
from topsmile.uploads.sniff import HEAD_BYTES
from topsmile.uploads.storage import Storage, TempFile

MAX_FILE_BYTES = 10 * 1024 * 1024
# The whole body may add the part headers and the two small fields to a file at the limit;
# a Content-Length over this is refused before a byte is read.
MAX_BODY_BYTES = MAX_FILE_BYTES + 64 * 1024
MAX_FIELD_BYTES = 256
FIELDS = ("patientId", "category")
FILE = "file"


@dataclass
class Received:
    """The file part, in a temp file of the storage (not yet committed)."""

    temp: TempFile
    filename: str | None
    declared_type: str | None
    size: int = 0
    head: bytes = b""
    hasher: hashlib._Hash = field(default_factory=hashlib.sha256)

    @property
    def sha256(self) -> str:
        return self.hasher.hexdigest()

    async def add(self, chunk: bytes) -> None:
        if self.size + len(chunk) > MAX_FILE_BYTES:
            raise PayloadTooLarge(f"A file may have at most {MAX_FILE_BYTES} bytes (10 MiB).")
        if len(self.head) < HEAD_BYTES:
            self.head += chunk[: HEAD_BYTES - len(self.head)]
        self.hasher.update(chunk)
        await self.temp.write(chunk)
        self.size += len(chunk)


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    file: Received | None = None


def _malformed(message: str) -> ValidationError:
    return ValidationError.on("body", message)


def boundary_of(content_type: str | None) -> str:
    media_type, options = parse_options_header(content_type or "")
    if media_type != "multipart/form-data":
        raise UnsupportedMediaType("Send the file as multipart/form-data.")
    boundary = str(options.get("boundary", ""))
    if not boundary or len(boundary) > 70:  # RFC 2046: 1 to 70 characters
        raise _malformed("The multipart Content-Type needs a boundary of 1 to 70 characters.")
    return boundary


class _Reader:
    """Turns the parser's events into a `Form`."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.form = Form()
        self.name: str | None = None
        self.text = bytearray()

    async def begin(self, segment: MultipartSegment) -> None:
        name = segment.name or ""
        if name == FILE and self.form.file is None:
            temp = await self.storage.open_temp()
            self.form.file = Received(temp, segment.filename, segment.content_type)
        elif name in FIELDS and name not in self.form.fields:
            self.text.clear()
        elif name in FIELDS or name == FILE:
            raise ValidationError.on(name, f"Send `{name}` once.")
        else:
            shown = name[:100]  # a part header may be 4 KiB long
            raise ValidationError.on(shown or "body", f"Unknown form field `{shown}`.")
        self.name = name

    async def data(self, chunk: bytes) -> None:
        if self.name == FILE:
            assert self.form.file is not None
            await self.form.file.add(chunk)
            return
        self.text += chunk
        if len(self.text) > MAX_FIELD_BYTES:
            raise ValidationError.on(str(self.name), "This field is too long.")

    def end(self) -> None:
        if self.name != FILE:
            try:
                self.form.fields[str(self.name)] = self.text.decode("utf-8")
            except UnicodeDecodeError:
                raise ValidationError.on(str(self.name), "Send text as UTF-8.") from None
        self.name = None


async def receive(stream: AsyncIterator[bytes], content_type: str | None, storage: Storage) -> Form:
    """Read the whole multipart body; on any error the temp file is discarded."""
    parser = PushMultipartParser(boundary_of(content_type), max_segment_count=len(FIELDS) + 1)
    reader = _Reader(storage)
    try:
        async for chunk in stream:
            for event in parser.parse(chunk):  # an empty chunk ends the body and checks it
                if isinstance(event, MultipartSegment):
                    await reader.begin(event)
                elif event is None:
                    reader.end()
                else:
                    await reader.data(event)
        if not parser.closed:
            raise _malformed("The multipart body ends before its closing boundary.")
    except BaseException as exc:
        if reader.form.file is not None:
            await storage.discard(reader.form.file.temp)
        if isinstance(exc, MultipartError):
            raise _malformed(f"The multipart body is malformed: {exc}") from None
        raise
    return reader.form
