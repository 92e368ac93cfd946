"""What every request pays for (issue 9, item 7): no worker-thread hops, few round trips."""

from __future__ import annotations

import inspect
import uuid

from litestar.routes import HTTPRoute

from tests.api.auth_fixtures import SeededClinic
from topsmile.clinics import queries as clinics
from topsmile.core import db
from topsmile.core.middleware import EdgeMiddleware
from topsmile.users import queries as users


def test_no_guard_or_handler_runs_in_a_worker_thread(app: EdgeMiddleware) -> None:
    """Litestar runs a plain `def` guard, and a `def` handler marked `sync_to_thread`, in a
    thread pool: a hand-off (and GIL contention) on every call of every route."""
    threaded = []
    for route in app.app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for handler in route.route_handlers:
            guards = handler.resolve_guards()
            threaded += [
                f"{route.path} guard {guard!r}"
                for guard in guards
                if not inspect.iscoroutinefunction(guard)
            ]
            if handler.has_sync_callable and handler.sync_to_thread:
                threaded.append(f"{route.path} handler {handler.handler_name}")
    assert threaded == []


async def test_me_reads_user_and_clinic_in_one_query_with_the_same_rows(
    clinic: SeededClinic,
) -> None:
    user_id = clinic.users["receptionist"]
    async with db.tenant_transaction(clinic.id):
        both = await users.user_and_clinic(user_id)
        user, own_clinic = await users.user_by_id(user_id), await clinics.clinic_by_id(clinic.id)
        nobody = await users.user_and_clinic(uuid.uuid4())
    assert both is not None
    assert user is not None
    assert (dict(both[0]), dict(both[1])) == (dict(user), dict(own_clinic))
    assert nobody is None
