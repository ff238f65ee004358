"""Helpers of the unit tests: an in-process registry answer over httpx.MockTransport, and a real
local HTTP server (http.server) whose handler a test writes, for streams cut on the wire."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any, Callable, Iterator, Optional

import contextlib
import httpx

import featurelog

DEFINITIONS: dict[str, Any] = {
    "version": 3,
    "objects": {
        "entity": [
            {"name": "driver", "joinKeys": [{"name": "driver_id", "type": "int64"}]},
            {"name": "city", "joinKeys": [{"name": "city", "type": "string"}]},
        ],
        "data_source": [],
        "feature_view": [
            {
                "name": "driver_hourly_stats",
                "version": 1,
                "entities": ["driver"],
                "features": [
                    {"name": "conv_rate", "type": "float64"},
                    {"name": "acc_rate", "type": "float64"},
                    {"name": "avg_daily_trips", "type": "int64"},
                ],
                "ttlSeconds": 7200,
                "online": True,
                "offline": True,
            },
            {
                "name": "city_stats",
                "version": 1,
                "entities": ["city"],
                "features": [
                    {"name": "conv_rate", "type": "float64"},
                    {"name": "photo", "type": "bytes"},
                    {"name": "seen_at", "type": "timestamp"},
                    {"name": "scores", "type": "list<float32>"},
                ],
                "ttlSeconds": 0,
                "online": True,
                "offline": True,
            },
        ],
        "feature_service": [
            {"name": "driver_activity", "features": ["driver_hourly_stats:conv_rate", "driver_hourly_stats:avg_daily_trips"]}
        ],
    },
}

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport that answers /definitions from DEFINITIONS and everything else with the
    test's handler, recording every request."""

    def __init__(self, handler: Optional[Handler] = None) -> None:
        self.requests: list[httpx.Request] = []
        self.handler = handler

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        if request.url.path == "/definitions":
            return httpx.Response(200, json=DEFINITIONS)
        if self.handler is None:
            return httpx.Response(500, json={"statusCode": 500, "code": "UNEXPECTED", "message": str(request.url)})
        return self.handler(request)

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.requests]


def store_with(recorder: Recorder, **kwargs: Any) -> featurelog.FeatureStore:
    kwargs.setdefault("retries", 0)
    return featurelog.FeatureStore(
        url="http://serving.test:6574", api_key="k" * 20, transport=httpx.MockTransport(recorder), **kwargs
    )


@contextlib.contextmanager
def local_server(handle: Callable[[http.server.BaseHTTPRequestHandler], None]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 (any free port) answering every GET and POST with ``handle``;
    yields its base URL."""

    class RequestHandler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802
            handle(self)

        def do_POST(self) -> None:  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(length)
            handle(self)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def send_json(handler: http.server.BaseHTTPRequestHandler, status: int, body: Any) -> None:
    data = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)
