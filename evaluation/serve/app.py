"""The HTTP API (FastAPI): POST /recommend, POST /recommend/batch, GET /songs/{id}, /healthz, /metrics, /docs.

Every refusal is JSON {"error": kind, "detail": message} with a 4xx (503 when over the deadline or busy), counted
in img2song_errors{kind}; the server keeps serving. Upload size is enforced while the body is read
(`BodyLimitMiddleware`), before the multipart parser buffers it.
"""
from __future__ import annotations

from collections.abc import Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi import Query as Q
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException

from evaluation.serve import catalogue_routes
from evaluation.serve.metrics import Metrics, MetricsMiddleware
from evaluation.serve.service import Answer, RecommendService, ServiceError

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


def first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


def songs_payload(service: RecommendService, answer: Answer) -> dict[str, Any]:
    return {"scorer": answer.scorer, "songs": service.describe(answer.items[0][1]), "timing_ms": answer.timing_ms}


def create_app(service: RecommendService, echo: Callable[[str], None] = print) -> FastAPI:
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        service.shutdown()  # uvicorn stops accepting and drains in-flight requests first
        echo("img2song service shut down cleanly (in-flight requests answered, worker pools stopped)")

    app = FastAPIOffline(title="img2song", version="0.1.0", lifespan=lifespan,  # /docs assets from the package
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

    async def answer(uploads: list[tuple[str, bytes]], ids: list[str], scorer: str | None, k: int | None) -> Answer:
        got = await service.answer(uploads, ids, scorer, k)
        for stage, ms in got.timing_ms.items():
            metrics.stage.labels(stage).observe(ms / 1e3)
        return got

    async def read_uploads(files: list[UploadFile]) -> list[tuple[str, bytes]]:
        return [(f.filename or "upload", await f.read()) for f in files]

    @app.post("/recommend", summary="Songs for one photo (upload) or one corpus image id",
              description='{"scorer", "songs": [{"id", "title", "artist", "score", "explanation"}], '
                          '"timing_ms": {stage: ms}}')
    async def recommend(
        image: Annotated[UploadFile | None, File(description="the photo (multipart)")] = None,
        image_id: Annotated[str | None, Form(description="a corpus image id instead of an upload")] = None,
        scorer: Annotated[str | None, Form(description="scorer name (default: the service's)")] = None,
        k: Annotated[int | None, Form(description="number of songs")] = None,
        q_image_id: Annotated[str | None, Q(alias="image_id", description="image id as a query field")] = None,
        q_scorer: Annotated[str | None, Q(alias="scorer")] = None,
        q_k: Annotated[int | None, Q(alias="k")] = None,
    ) -> JSONResponse:  # returned as is: no validation pass over our own dict
        ids = [i for i in (first(image_id, q_image_id),) if i is not None]
        if image is not None and ids:
            raise ServiceError(400, "bad_request", "send either an upload 'image' or an 'image_id', not both")
        uploads = await read_uploads([image] if image is not None else [])
        return JSONResponse(songs_payload(service, await answer(uploads, ids, scorer or q_scorer, first(k, q_k))))

    @app.post("/recommend/batch", summary="Songs for several uploads and/or image ids in one call")
    async def recommend_batch(
        image: Annotated[list[UploadFile] | None, File(description="photos (repeat the field)")] = None,
        image_id: Annotated[list[str] | None, Form(description="corpus image ids (repeat the field)")] = None,
        scorer: Annotated[str | None, Form()] = None,
        k: Annotated[int | None, Form()] = None,
        q_image_id: Annotated[list[str] | None, Q(alias="image_id")] = None,
        q_scorer: Annotated[str | None, Q(alias="scorer")] = None,
        q_k: Annotated[int | None, Q(alias="k")] = None,
    ) -> dict[str, Any]:
        uploads = await read_uploads(image or [])
        got = await answer(uploads, (image_id or []) + (q_image_id or []), scorer or q_scorer, first(k, q_k))
        return {"scorer": got.scorer, "timing_ms": got.timing_ms,
                "results": [{"query": label, "songs": service.describe(recs)} for label, recs in got.items]}

    @app.get("/songs/{song_id:path}", summary="One song of the catalogue (ids may contain '/')")
    async def song(song_id: str) -> dict[str, Any]:
        return service.song(song_id)

    @app.get("/healthz", summary="Liveness and what is loaded")
    async def healthz() -> dict[str, Any]:
        return service.health()

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=metrics.content_type)

    catalogue_routes.attach(app, service, echo)  # POST/DELETE /songs, /images: the live catalogue
    app.add_middleware(BodyLimitMiddleware, limit=service.config.max_upload_bytes, metrics=metrics)
    app.add_middleware(MetricsMiddleware, metrics=metrics, routes=app.routes)  # outermost: also counts the early 413s
    return app
