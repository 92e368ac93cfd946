"""The floor for bench/floor.py: Litestar and one tenant transaction, nothing of TopSmile's
request path (no auth, throttle, edge middleware or access log), served like `topsmile
serve` (uvicorn, `topsmile.cli.SERVER_OPTIONS`).

    DATABASE_URL=... python bench/floor_app.py PORT WORKERS

- `GET /bare`: bench/bare_app.py's JSON route;
- `GET /one-read`: one `SELECT 1` on a pooled connection, outside any transaction (one
  round trip; no row-level security, so no TopSmile route could read this way);
- `GET /tenant-read`: `db.tenant_transaction` (pool, `BEGIN; set_config(…)`, `COMMIT`)
  around one indexed read: the three round trips every TopSmile read pays.
"""

from __future__ import annotations

import os
import sys
import uuid

import msgspec
import uvicorn
from bare_app import bare
from litestar import Litestar, get

from topsmile.cli import SERVER_OPTIONS
from topsmile.core import db

CLINIC = uuid.UUID(int=1)


class Answer(msgspec.Struct):
    status: str
    rows: int


@get("/one-read")
async def one_read() -> Answer:
    assert db.DB.pool is not None
    async with db.DB.pool.acquire() as connection:
        return Answer("ok", await connection.fetchval("SELECT 1"))


@get("/tenant-read")
async def tenant_read() -> Answer:
    async with db.tenant_transaction(CLINIC):
        found = await db.fetch("SELECT count(*) AS n FROM clinic WHERE id = {}", CLINIC)
    return Answer("ok", found[0]["n"])


async def _open() -> None:
    await db.open_pool(os.environ["DATABASE_URL"])


app = Litestar(
    route_handlers=[bare, one_read, tenant_read],
    on_startup=[_open],
    on_shutdown=[db.close_pool],
    logging_config=None,
    openapi_config=None,
)

if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    uvicorn.run("floor_app:app", host="127.0.0.1", port=port, workers=workers, **SERVER_OPTIONS)
