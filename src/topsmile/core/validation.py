"""Validators shared by every domain: emails, phones, names, zones, currencies, pages."""

from __future__ import annotations

import re
import zoneinfo
from functools import lru_cache
from typing import Annotated

import msgspec
import phonenumbers

from topsmile.core.errors import ValidationError

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
Reason = Annotated[str, msgspec.Meta(max_length=500)]
Description = Annotated[str, msgspec.Meta(max_length=1000)]
Notes = Annotated[str, msgspec.Meta(max_length=2000)]
Password = Annotated[str, msgspec.Meta(max_length=1024)]
Token = Annotated[str, msgspec.Meta(min_length=1, max_length=300)]
PageNumber = Annotated[int, msgspec.Meta(ge=1)]
PageSize = Annotated[int, msgspec.Meta(ge=1, le=100)]

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")

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


def email(value: str, field: str = "email") -> str:
    normalized = value.strip().lower()
    if not _EMAIL.match(normalized) or len(normalized) > 254:
        raise ValidationError.on(field, "Enter a valid email address.")
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
    return frozenset(zoneinfo.available_timezones())


def timezone(value: str, field: str = "timezone") -> str:
    if value not in _zones():
        raise ValidationError.on(field, "Use an IANA time zone such as America/Sao_Paulo.")
    return value


def currency(value: str, field: str = "currency") -> str:
    code = value.strip().lower()
    if code not in ISO_4217:
        raise ValidationError.on(field, "Use an ISO 4217 currency code such as brl or usd.")
    return code


def slug(value: str, field: str = "slug") -> str:
    if not _SLUG.match(value):
        raise ValidationError.on(
            field, "Use 1-63 lower-case letters, digits and hyphens, not starting or ending with -."
        )
    return value


def required_text(value: str, field: str) -> str:
    stripped = value.strip()
    if not stripped:
        raise ValidationError.on(field, "This field cannot be blank.")
    return stripped
