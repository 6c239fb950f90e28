"""A loopback platform server: a Flask app on 127.0.0.1:<port> served from a daemon thread."""

from __future__ import annotations

import threading

from flask import Flask
from werkzeug.serving import make_server


class LoopbackServer:
    def serve(self, app: Flask, port: int = 0) -> None:
        """Bind now (so `url` is known before `start`), serve once started."""
        self.server = make_server("127.0.0.1", port, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(10)
        self.server.server_close()
