"""What a booking race may leave behind, read straight from the tables (SPEC §6 "Booking is
locked"): every answer a success or a clean 409, and no two live blocks overlapping."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from itertools import combinations

import httpx

from tests.api.auth_fixtures import SeededClinic
from topsmile.core import db

Block = tuple[uuid.UUID, datetime, datetime]


async def live_blocks(clinic: SeededClinic, provider_id: str) -> list[Block]:
    """The provider's live appointments and their occupied blocks, straight from the table."""
    async with db.tenant_transaction(clinic.id):
        rows = await db.fetch(
            "SELECT id, occupied_start, occupied_end FROM appointment WHERE provider_id = {}"
            " AND status NOT IN ('cancelled', 'no_show')",
            uuid.UUID(provider_id),
        )
    return [(r["id"], r["occupied_start"], r["occupied_end"]) for r in rows]


def overlapping(blocks: list[Block]) -> list[tuple[Block, Block]]:
    return [(a, b) for a, b in combinations(blocks, 2) if a[1] < b[2] and b[1] < a[2]]


def assert_clean(responses: list[httpx.Response], success: int) -> Counter[int]:
    """Only `success` or 409 `slot-unavailable`: never a 5xx, never another problem."""
    statuses = Counter(r.status_code for r in responses)
    assert set(statuses) <= {success, 409}, [r.text for r in responses if r.status_code >= 500]
    assert {r.json()["type"] for r in responses if r.status_code == 409} <= {
        "/problems/slot-unavailable"
    }
    return statuses
