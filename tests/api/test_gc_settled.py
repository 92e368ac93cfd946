"""`topsmile serve`'s app freezes what start-up built, so full collections stay short."""

from __future__ import annotations

import gc

from litestar import Litestar

from tests.conftest import client_for
from topsmile.app import create_served_app
from topsmile.config import Settings


async def test_the_served_app_leaves_full_collections_only_what_came_after_start_up(
    settings: Settings,
) -> None:
    asgi = create_served_app(settings, run_relay=False)
    assert isinstance(asgi.app, Litestar)
    gc.unfreeze()
    try:
        async with asgi.app.lifespan():
            frozen = gc.get_freeze_count()
            # Start-up's objects (modules, routes, schemas, pools) are out of the collector's
            # sight; before, every full collection re-scanned all of them (a pause of tens to
            # hundreds of ms on a worker serving requests).
            assert frozen > 50_000
            assert len(gc.get_objects(generation=2)) < frozen / 10
            async with client_for(asgi) as client:
                assert (await client.get("/api/health")).status_code == 200
    finally:
        gc.unfreeze()
