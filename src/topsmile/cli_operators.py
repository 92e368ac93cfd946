"""The operators' commands of `topsmile`: dead events, upload leftovers, clinics and staff
users created without the web sign-up. `cli.py` registers them with `add_commands`."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
import uuid
from typing import Any

from topsmile.cli import operator_action, problem_line, resolved_settings, storage_for, with_pool


def add_commands(commands: Any) -> None:
    from topsmile.core.actor import STAFF_ROLES

    events = commands.add_parser("events", help="inspect and retry event deliveries")
    events_commands = events.add_subparsers(dest="events_command", required=True)
    dead = events_commands.add_parser("dead", help="list deliveries that gave up")
    dead.add_argument("--limit", type=int, default=100)
    dead.set_defaults(run=cmd_events_dead)
    retry = events_commands.add_parser("retry", help="retry an event's dead deliveries")
    retry.add_argument("event_id", metavar="ID")
    retry.add_argument(
        "--handler", dest="only_handler", help="only this handler (email, sms, audit)"
    )
    retry.set_defaults(run=cmd_events_retry)
    uploads = commands.add_parser("uploads", help="maintain stored patient files")
    uploads_commands = uploads.add_subparsers(dest="uploads_command", required=True)
    cleanup = uploads_commands.add_parser(
        "cleanup", help="delete temp files and files without a row, older than the grace period"
    )
    cleanup.add_argument("--grace-minutes", type=int, default=60)
    cleanup.set_defaults(run=cmd_uploads_cleanup)
    clinic = commands.add_parser("clinic", help="operate on clinics")
    clinic_commands = clinic.add_subparsers(dest="clinic_command", required=True)
    clinic_create = clinic_commands.add_parser(
        "create", help="create a clinic and its first admin (no sign-up switch, no throttle)"
    )
    clinic_create.add_argument("--name", required=True)
    clinic_create.add_argument("--slug", required=True)
    clinic_create.add_argument(
        "--timezone", required=True, help="IANA zone, e.g. America/Sao_Paulo"
    )
    clinic_create.add_argument("--currency", required=True, help="ISO 4217 code, e.g. brl")
    clinic_create.add_argument("--admin-email", required=True)
    clinic_create.add_argument("--admin-password", required=True)
    clinic_create.add_argument("--admin-first-name", help="default: from the email")
    clinic_create.add_argument("--admin-last-name", help="default: from the email")
    clinic_create.set_defaults(run=cmd_clinic_create)

    user = commands.add_parser("user", help="operate on staff users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    user_create = user_commands.add_parser("create", help="add a staff user to a clinic")
    user_create.add_argument("--clinic", required=True, metavar="SLUG")
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--role", required=True, choices=STAFF_ROLES)
    user_create.add_argument("--password", required=True)
    user_create.add_argument("--first-name", help="default: from the email")
    user_create.add_argument("--last-name", help="default: from the email")
    user_create.set_defaults(run=cmd_user_create)


def cmd_events_dead(args: argparse.Namespace) -> int:
    from topsmile.events import admin

    with resolved_settings() as settings:
        rows = asyncio.run(with_pool(settings, lambda: admin.dead_deliveries(args.limit)))
    if not rows:
        print("no dead deliveries")
    for row in rows:
        print(
            f"{row.event_id}  {row.handler:<8} {row.name:<32} "
            f"attempts={row.attempts}  {row.updated_at:%Y-%m-%d %H:%M}  {row.last_error}"
        )
    return 0


def cmd_events_retry(args: argparse.Namespace) -> int:
    from topsmile.events import admin

    try:
        event_id = uuid.UUID(args.event_id)
    except ValueError:
        print(f"topsmile: not an event id: {args.event_id}", file=sys.stderr)
        return 2
    with resolved_settings() as settings:
        count = asyncio.run(with_pool(settings, lambda: admin.retry(event_id, args.only_handler)))
    print(f"{count} dead deliver{'y' if count == 1 else 'ies'} scheduled again")
    return 0 if count else 1


def cmd_uploads_cleanup(args: argparse.Namespace) -> int:
    from topsmile.uploads import admin

    if args.grace_minutes < 0:
        print("topsmile: --grace-minutes must be 0 or more", file=sys.stderr)
        return 2
    with resolved_settings() as settings:
        storage = storage_for(settings)
        removed = asyncio.run(
            with_pool(settings, lambda: admin.cleanup(storage, args.grace_minutes))
        )
    for leftover in removed:
        print(f"removed {'temp file' if leftover.temporary else 'orphan'} {leftover.key}")
    print(f"{len(removed)} leftover file(s) removed")
    return 0


def _names_from_email(email: str, fallback_last: str) -> tuple[str, str]:
    """`ana.lima@x` → ("Ana", "Lima"); a one-word local part gets `fallback_last`."""
    words = [w for w in re.split(r"[._+-]+", email.partition("@")[0]) if w]
    first = words[0].title() if words else fallback_last
    last = " ".join(words[1:]).title() or fallback_last
    return first[:100], last[:100]


def cmd_clinic_create(args: argparse.Namespace) -> int:
    import msgspec

    from topsmile.auth.passwords import Hasher
    from topsmile.clinics import service
    from topsmile.clinics.schemas import ClinicSignup
    from topsmile.core.schemas import validation_error

    first, last = _names_from_email(args.admin_email, "Admin")
    raw = {
        "name": args.name,
        "slug": args.slug,
        "timezone": args.timezone,
        "currency": args.currency,
        "admin": {
            "email": args.admin_email,
            "password": args.admin_password,
            "firstName": args.admin_first_name or first,
            "lastName": args.admin_last_name or last,
        },
    }
    try:
        data = msgspec.convert(raw, ClinicSignup, strict=True)
    except msgspec.ValidationError as exc:
        print(f"topsmile: {problem_line(validation_error(exc))}", file=sys.stderr)
        return 1
    created = operator_action(lambda: service.create_clinic(Hasher(), data))
    if created is None:
        return 1
    print(f"clinic created: id={created.clinic.id} slug={created.clinic.slug}")
    print(f"admin user: id={created.admin.id} email={created.admin.email}")
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    import msgspec

    from topsmile.auth.passwords import Hasher
    from topsmile.clinics import service
    from topsmile.core.schemas import validation_error
    from topsmile.users.schemas import StaffUserCreate

    first, last = _names_from_email(args.email, args.role.title())
    raw = {
        "email": args.email,
        "password": args.password,
        "firstName": args.first_name or first,
        "lastName": args.last_name or last,
        "role": args.role,
    }
    try:
        data = msgspec.convert(raw, StaffUserCreate, strict=True)
    except msgspec.ValidationError as exc:
        print(f"topsmile: {problem_line(validation_error(exc))}", file=sys.stderr)
        return 1
    user = operator_action(lambda: service.create_user_in(Hasher(), args.clinic, data))
    if user is None:
        return 1
    print(f"user created: id={user.id} email={user.email} role={user.role}")
    return 0
