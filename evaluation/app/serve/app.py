"""The HTTP API (FastAPI): the application, its error handlers and middleware; the routes live in `routers/`
(recommend: POST /recommend, /recommend/batch; catalogue: GET /songs/{id}; operations: /healthz, /metrics), each
answer and refusal a response model (`models.py`), so /openapi.json documents them; /docs serves it offline.

Every refusal is JSON {"error": kind, "detail": message} with a 4xx (503 when over the deadline or busy), counted
in img2song_errors{kind}; the server keeps serving. Upload size is enforced while the body is read
(`BodyLimitMiddleware`), before the multipart parser buffers it.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from evaluation.app.serve import catalogue_routes
from evaluation.app.serve.metrics import Metrics, MetricsMiddleware
from evaluation.app.serve.models import refusals
from evaluation.app.serve.routers import catalogue, ops, recommend
from evaluation.app.serve.service import RecommendService, ServiceError

ERROR_KINDS = {400: "bad_request", 404: "not_found", 405: "method_not_allowed", 413: "upload_too_large",
               415: "not_an_image", 422: "invalid_request", 503: "unavailable"}


class BodyLimitMiddleware:
    """413 for a request body over `limit` bytes: at once from Content-Length, else when the count passes it."""

    def __init__(self, app: Any, limit: int, metrics: Metrics) -> None:
        self.app, self.limit, self.metrics = app, limit, metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        too_big = f"request body over the upload limit of {self.limit} bytes"
        length = dict(scope.get("headers") or []).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            self.metrics.errors.labels("upload_too_large").inc()
            await JSONResponse({"error": "upload_too_large", "detail": too_big}, 413,
                               headers={"Connection": "close"})(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, too_big)  # FastAPI passes HTTPException through its body parsing
            return message

        await self.app(scope, counted, send)


def create_app(service: RecommendService, echo: Callable[[str], None] = print) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        service.shutdown()  # uvicorn stops accepting and drains in-flight requests first
        echo("img2song service shut down cleanly (in-flight requests answered, worker pools stopped)")

    app = FastAPIOffline(title="img2song", version="0.1.0", lifespan=lifespan,  # /docs assets from the package
                  responses=refusals(500),  # any route: an unexpected failure is answered with the error body
                  description="Songs for a photo: upload an image (multipart field `image`) or name a corpus "
                              "image (`image_id`); optional `scorer` and `k`.")
    app.state.service, app.state.metrics = service, metrics

    def refuse(status: int, kind: str, detail: str) -> JSONResponse:
        metrics.errors.labels(kind).inc()
        return JSONResponse({"error": kind, "detail": detail}, status)

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, e: ServiceError) -> JSONResponse:
        return refuse(e.status, e.kind, e.message)

    # Starlette's HTTPException, FastAPI's base: routing 404/405 and the multipart parser's 400 come as Starlette's
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, e: StarletteHTTPException) -> JSONResponse:
        return refuse(e.status_code, ERROR_KINDS.get(e.status_code, f"http_{e.status_code}"), str(e.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, e: RequestValidationError) -> JSONResponse:
        detail = "; ".join(f"{'.'.join(str(x) for x in err.get('loc', ()))}: {err.get('msg')}" for err in e.errors())
        return refuse(422, "invalid_request", detail)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, e: Exception) -> JSONResponse:
        return refuse(500, "internal", f"{type(e).__name__}: {e}")

    for router in (recommend.router, catalogue.router, ops.router):
        app.include_router(router)

    catalogue_routes.attach(app, service, echo)  # POST/DELETE /songs, /images: the live catalogue
    app.add_middleware(BodyLimitMiddleware, limit=service.config.max_upload_bytes, metrics=metrics)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.routes)  # outermost: also counts the early 413s
    return app
