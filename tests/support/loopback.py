"""An HTTP server on a loopback port, served from a thread: the body of the local protocol
servers (Stripe, Twilio) the real SDKs talk to in tests. A subclass says which server it
runs (`_server()`); `with` starts it on a free port (`base_url`) and stops it."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer
from types import TracebackType
from typing import Self


class LoopbackServer:
    def __init__(self) -> None:
        self._running: tuple[ThreadingHTTPServer, threading.Thread] | None = None
        self.base_url = ""

    def _server(self) -> ThreadingHTTPServer:
        raise NotImplementedError

    def __enter__(self) -> Self:
        server = self._server()
        thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        thread.start()
        self._running = server, thread
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._running is not None:
            server, thread = self._running
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)
            self._running = None
