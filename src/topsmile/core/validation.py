"""Validators shared by every domain: emails, phones, names, zones, currencies, dates, text.

The annotated types below carry their rule (`Rule`); `Input.__post_init__` (core/schemas.py)
runs the rules of every field while the body is decoded, so a new route cannot forget one.
Services call the same functions when they need a rule outside a request body.
"""

from __future__ import annotations

import re
import typing
import unicodedata
import zoneinfo
from collections.abc import Callable
from datetime import date
from functools import lru_cache
from typing import Annotated, Any

import email_validator
import msgspec
import phonenumbers

from topsmile.core import clock
from topsmile.core.errors import FieldError, ValidationError

EARLIEST_BIRTH = date(1900, 1, 1)
_MAX_NAME = 100
_MAX_EMAIL = 254
_SLUG = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
# IANA's geographic areas: a real place's zone is Area/Location ("America/Sao_Paulo").
# Leaves out aliases and host files such as localtime, posixrules, Factory, US/Eastern, EST.
_ZONE_AREAS = frozenset(
    "Africa America Antarctica Arctic Asia Atlantic Australia Europe Indian Pacific".split()  # noqa: SIM905 - a readable list
)

# ISO 4217 active codes (the ones Stripe can charge in are a subset of these).
ISO_4217 = frozenset(
    """aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd btn
    bwp byn bzd cad cdf chf clp cny cop crc cuc cup cve czk djf dkk dop dzd egp ern etb eur fjd
    fkp gbp gel ghs gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr iqd irr isk jmd jod jpy kes
    kgs khr kmf kpw krw kwd kyd kzt lak lbp lkr lrd lsl lyd mad mdl mga mkd mmk mnt mop mru mur
    mvr mwk mxn myr mzn nad ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub
    rwf sar sbd scr sdg sek sgd shp sle sll sos srd ssp stn svc syp szl thb tjs tmt tnd top try
    ttd twd tzs uah ugx usd uyu uzs ves vnd vuv wst xaf xcd xof xpf yer zar zmw zwl""".split()  # noqa: SIM905 - a readable block of codes
)


def whole(pattern: str) -> str:
    """A `Meta(pattern=...)` that must match the whole string.

    msgspec searches with Python's `re`, where `$` also matches before a final newline
    ("#ffffff\\n" passed `^#[0-9a-f]{6}$`); `(?!\\n)` closes that gap. `\\A`/`\\Z` would
    too, but OpenAPI clients read patterns as ECMA-262, which has neither.
    """
    return f"^(?:{pattern})$(?!\\n)"


# --- The validators (value, wire field name) -> normalized value ---------------------------


def _has_controls(value: str, *, allow_newlines: bool) -> bool:
    allowed = "\n\r\t" if allow_newlines else ""
    return any(unicodedata.category(c) == "Cc" and c not in allowed for c in value)


def required_text(value: str, field: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValidationError.on(field, "This field cannot be blank.")
    return stripped


def name(value: str, field: str = "name") -> str:
    """A person's or a thing's name: one line, not blank, at most 100 characters."""
    text = required_text(value, field)
    if _has_controls(text, allow_newlines=False):
        raise ValidationError.on(field, "A name cannot contain control characters.")
    if len(text) > _MAX_NAME:
        raise ValidationError.on(field, f"Use at most {_MAX_NAME} characters.")
    return text


def optional_text(value: str, field: str) -> str | None:
    """Optional free text (specialty, category, description, notes, reason): trimmed, and
    blank means "none" (null), so whitespace is never stored as a value."""
    text = value.strip()
    if "\x00" in text:
        raise ValidationError.on(field, "Text may not contain NUL characters.")
    return text or None


def optional_line(value: str, field: str) -> str | None:
    """Optional one-line text (specialty, category): `optional_text` without line breaks."""
    text = optional_text(value, field)
    if text is not None and _has_controls(text, allow_newlines=False):
        raise ValidationError.on(field, "This field cannot contain control characters.")
    return text


def email(value: str, field: str = "email") -> str:
    """Syntax only (no DNS), by the email-validator library; stored lower-case."""
    try:
        checked = email_validator.validate_email(value.strip(), check_deliverability=False)
    except email_validator.EmailNotValidError:
        raise ValidationError.on(field, "Enter a valid email address.") from None
    normalized = checked.normalized.lower()
    if len(normalized) > _MAX_EMAIL:
        raise ValidationError.on(field, f"Use at most {_MAX_EMAIL} characters.")
    return normalized


def phone(value: str, field: str = "phone") -> str:
    """Any usual format that includes the country code → E.164."""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValidationError.on(field, "Enter a phone number with its country code.") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationError.on(field, "Enter a valid phone number with its country code.")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    return frozenset(
        zone
        for zone in zoneinfo.available_timezones()
        if zone == "UTC" or zone.split("/", 1)[0] in _ZONE_AREAS
    )


def timezone(value: str, field: str = "timezone") -> str:
    zone = value.strip()
    if zone not in _zones():
        raise ValidationError.on(field, "Use an IANA time zone such as America/Sao_Paulo.")
    return zone


def currency(value: str, field: str = "currency") -> str:
    code = value.strip().lower()
    if code not in ISO_4217:
        raise ValidationError.on(field, "Use an ISO 4217 currency code such as brl or usd.")
    return code


def slug(value: str, field: str = "slug") -> str:
    if not _SLUG.fullmatch(value):
        raise ValidationError.on(
            field, "Use 1-63 lower-case letters, digits and hyphens, not starting or ending with -."
        )
    return value


def _birth_floor(value: date, field: str) -> date:
    if value < EARLIEST_BIRTH:
        raise ValidationError.on(field, "Use a date of birth after 1900-01-01.")
    return value


def date_of_birth(value: date, zone: str, field: str = "dateOfBirth") -> date:
    """From 1900-01-01 to today, where "today" is the clinic's calendar date."""
    _birth_floor(value, field)
    if value > clock.now().astimezone(zoneinfo.ZoneInfo(zone)).date():
        raise ValidationError.on(field, "The date of birth is in the future.")
    return value


# --- Field types and the rule runner ---------------------------------------------------------


class Rule:
    """Annotated metadata: the validator a field's value goes through after decoding."""

    def __init__(self, check: Callable[[Any, str], Any]) -> None:
        self.check = check


class FieldInvalid(ValidationError, ValueError):
    """A rule's refusal. A ValueError, so that msgspec adds where in the body it happened
    (`core.schemas.validation_error` then names `admin.email`, `[2].name`...)."""

    def within(self, path: str) -> ValidationError:
        """The same problem, its fields named from the body's root (`path` is where the
        struct holding them sits, "" for the body itself)."""
        errors = [
            FieldError(f"{path}.{e.field}" if path else e.field, e.message)
            for e in self.errors or []
        ]
        return ValidationError(self.detail, errors=errors)


Name = Annotated[str, msgspec.Meta(min_length=1, max_length=_MAX_NAME), Rule(name)]
# The format tells clients (and the contract fuzzer) what `Rule(email)` accepts.
_EMAIL_FORMAT = {"extra": {"format": "email"}}
Email = Annotated[
    str,
    msgspec.Meta(min_length=3, max_length=_MAX_EMAIL, extra_json_schema=_EMAIL_FORMAT),
    Rule(email),
]
Phone = Annotated[str, msgspec.Meta(min_length=1, max_length=40), Rule(phone)]
Timezone = Annotated[str, msgspec.Meta(min_length=1, max_length=64), Rule(timezone)]
Currency = Annotated[str, msgspec.Meta(min_length=1, max_length=3), Rule(currency)]
BirthDate = Annotated[date, Rule(_birth_floor)]
ShortText = Annotated[str, msgspec.Meta(max_length=100), Rule(optional_line)]
Reason = Annotated[str, msgspec.Meta(max_length=500), Rule(optional_text)]
Description = Annotated[str, msgspec.Meta(max_length=1000), Rule(optional_text)]
Notes = Annotated[str, msgspec.Meta(max_length=2000), Rule(optional_text)]
Password = Annotated[str, msgspec.Meta(max_length=1024)]
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
PageNumber = Annotated[int, msgspec.Meta(ge=1)]
PageSize = Annotated[int, msgspec.Meta(ge=1, le=100)]

_FieldRule = tuple[str, str, Rule]  # attribute, wire name, rule
_rules: dict[type, list[_FieldRule]] = {}


def _rule_of(annotation: Any) -> Rule | None:
    if typing.get_origin(annotation) is Annotated:
        return next((m for m in annotation.__metadata__ if isinstance(m, Rule)), None)
    for arg in typing.get_args(annotation):  # `Name | Unset | None`
        if (found := _rule_of(arg)) is not None:
            return found
    return None


def _rules_of(cls: type[msgspec.Struct]) -> list[_FieldRule]:
    if cls not in _rules:
        hints = typing.get_type_hints(cls, include_extras=True)
        _rules[cls] = [
            (f.name, f.encode_name, rule)
            for f in msgspec.structs.fields(cls)
            if (rule := _rule_of(hints[f.name])) is not None
        ]
    return _rules[cls]


def apply_rules(struct: msgspec.Struct) -> None:
    """Run every field's rule on a decoded struct, storing the normalized values."""
    for attribute, wire_name, rule in _rules_of(type(struct)):
        value = getattr(struct, attribute)
        if value is None or value is msgspec.UNSET:
            continue
        try:
            normalized = rule.check(value, wire_name)
        except ValidationError as exc:
            raise FieldInvalid(exc.detail, errors=exc.errors) from None
        if normalized is not value:
            setattr(struct, attribute, normalized)
