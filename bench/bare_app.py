"""The floor for bench/request_path.py: one Litestar JSON route, nothing else, served by
uvicorn with the same options as `topsmile serve` (one worker).

    python bench/bare_app.py PORT
"""

from __future__ import annotations

import sys

import msgspec
import uvicorn
from litestar import Litestar, get

from topsmile.cli import SERVER_OPTIONS


class Live(msgspec.Struct):
    status: str


@get("/bare", sync_to_thread=False)
def bare() -> Live:
    return Live("ok")


app = Litestar(route_handlers=[bare], logging_config=None, openapi_config=None)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), workers=1, **SERVER_OPTIONS)
