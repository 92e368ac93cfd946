"""Who does something: a user of a clinic, or the system acting for one (no web framework).

Services take an `Actor`, so the API, the operators' CLI, the demo seeder, the relay and
webhooks can all call them; the web session (`auth.principal.Principal`) wraps one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal

Role = Literal["admin", "manager", "receptionist", "provider", "patient"]
ROLES: tuple[Role, ...] = ("admin", "manager", "receptionist", "provider", "patient")
STAFF_ROLES: tuple[Role, ...] = ("admin", "manager", "receptionist", "provider")


@dataclass(frozen=True, slots=True)
class Actor:
    clinic_id: uuid.UUID
    user_id: uuid.UUID | None  # None: the system, or an anonymous caller (e.g. a failed login)
    role: Role | None
    ip: str | None = None

    @classmethod
    def system(cls, clinic_id: uuid.UUID, ip: str | None = None) -> Actor:
        return cls(clinic_id, None, None, ip)

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES
