"""An HTTP server on a loopback port, served from a thread: the body of the local protocol
servers (Stripe, Twilio) the real SDKs talk to in tests."""

from __future__ import annotations

import threading
from http.server import ThreadingHTTPServer


class Loopback:
    def __init__(self, server: ThreadingHTTPServer) -> None:
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.base_url = f"http://127.0.0.1:{server.server_address[1]}"

    def start(self) -> Loopback:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
