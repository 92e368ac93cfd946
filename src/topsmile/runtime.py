"""The process's shared services, built once in the app's lifespan and injected."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Request
from redis.asyncio import Redis

from topsmile.auth.passwords import Hasher
from topsmile.auth.sessions import Denylist
from topsmile.config import Settings
from topsmile.core.throttle import Throttle
from topsmile.uploads.storage import LocalStorage, Storage


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    redis: Redis
    throttle: Throttle
    hasher: Hasher
    denylist: Denylist
    storage: Storage

    @classmethod
    def build(cls, settings: Settings, redis: Redis) -> Runtime:
        assert settings.redis_url is not None
        denylist = Denylist(redis, settings.redis_url)
        storage = LocalStorage(Path(settings.storage_dir))
        return cls(
            settings, redis, Throttle(redis, settings.redis_url), Hasher(), denylist, storage
        )


def runtime_of(request: Request[Any, Any, Any]) -> Runtime:
    """The runtime the app's lifespan built, for a handler."""
    runtime: Runtime = request.app.state.runtime
    return runtime
