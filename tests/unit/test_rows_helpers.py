"""`rows.update_one` builds SQL only from its row struct's own columns."""

from __future__ import annotations

import uuid

import pytest

from topsmile.core import rows
from topsmile.patients.tables import PatientRow


class _NotATable(rows.Row, frozen=True):
    id: uuid.UUID


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        (PatientRow, {"frist_name": "typo"}),  # a column the table does not have
        (PatientRow, {"first_name = 'x', notes": "injected"}),  # never a column name
        (PatientRow, {}),  # nothing to set
        (_NotATable, {"id": uuid.uuid4()}),  # a struct that names no table
    ],
)
async def test_update_one_refuses_anything_but_its_columns(
    kind: type[rows.Row], changes: dict[str, object]
) -> None:
    with pytest.raises(ValueError, match="cannot update"):
        await rows.update_one(kind, uuid.uuid4(), changes)
