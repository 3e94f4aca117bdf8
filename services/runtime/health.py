"""One small HTTP server per service: ``/metrics`` (Prometheus), ``/healthz`` (liveness: the main
loop has ticked recently) and ``/readyz`` (readiness: connected and working)."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest


class Health:
    """Liveness and readiness as the main loop reports them."""

    def __init__(self, stall_after_s: float) -> None:
        self._stall_after_s = stall_after_s
        self._last_tick = time.monotonic()
        self._ready = False

    def tick(self) -> None:
        self._last_tick = time.monotonic()

    def set_ready(self, ready: bool) -> None:
        self._ready = ready

    @property
    def alive(self) -> bool:
        return time.monotonic() - self._last_tick < self._stall_after_s

    @property
    def ready(self) -> bool:
        return self._ready and self.alive


def serve_health(health: Health, host: str, port: int, registry: CollectorRegistry) -> ThreadingHTTPServer:
    """Start the endpoint on a daemon thread and return the server (``server_address`` has the port).

    ``registry`` holds only this process's collectors (``metrics.registry_for``), not every stage's."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                self._reply(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif self.path == "/healthz":
                self._reply(200 if health.alive else 503, b"ok\n" if health.alive else b"stalled\n")
            elif self.path == "/readyz":
                self._reply(200 if health.ready else 503, b"ready\n" if health.ready else b"not ready\n")
            else:
                self._reply(404, b"not found\n")

        def _reply(self, status: int, body: bytes, content_type: str = "text/plain; charset=utf-8") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes every few seconds would drown the structured log

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="health-http", daemon=True).start()
    return server
