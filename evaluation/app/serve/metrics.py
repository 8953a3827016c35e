"""Prometheus metrics of the service (own registry per app): requests, latency, errors by kind, CNN queue.

`MetricsMiddleware` is plain ASGI (no per-request task or body copy): it times each HTTP request and counts it by
route template (`/songs/{song_id}`, never the raw path, so labels stay few), method and status.
"""
from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.routing import Match

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("img2song_requests", "HTTP requests by route, method and status",
                                ("route", "method", "status"), registry=self.registry)
        self.latency = Histogram("img2song_request_duration_seconds", "HTTP request latency by route",
                                 ("route",), buckets=LATENCY_BUCKETS, registry=self.registry)
        self.errors = Counter("img2song_errors", "Refused or failed requests by error kind", ("kind",),
                              registry=self.registry)
        self.stage = Histogram("img2song_stage_duration_seconds", "Time per stage of a recommendation",
                               ("stage",), buckets=LATENCY_BUCKETS, registry=self.registry)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    def __init__(self, app: Any, metrics: Metrics, routes: Sequence[Any] = ()) -> None:
        self.app, self.metrics, self.routes = app, metrics, routes

    def route_label(self, scope: dict) -> str:
        """The matched route's template; for a request answered before routing (413), the route it was for."""
        route = scope.get("route")
        if route is None:
            route = next((r for r in self.routes if r.matches(scope)[0] == Match.FULL), None)
        return getattr(route, "path", None) or "unmatched"

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        status = {"code": 500}

        async def send_status(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            label = self.route_label(scope)
            self.metrics.requests.labels(label, scope.get("method", ""), str(status["code"])).inc()
            self.metrics.latency.labels(label).observe(time.perf_counter() - t0)
