"""POST /recommend and /recommend/batch: songs for uploaded photos or corpus image ids."""
from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi import Query as Q
from fastapi.responses import JSONResponse

from evaluation.app.serve.metrics import Metrics
from evaluation.app.serve.models import BatchResponse, RecommendResponse, refusals
from evaluation.app.serve.routers.deps import metrics_of, service_of
from evaluation.app.serve.service import Answer, RecommendService, ServiceError

router = APIRouter(tags=["recommend"])
REFUSALS = refusals(400, 404, 413, 415, 422, 503)


def first(*values: Any) -> Any:
    return next((v for v in values if v is not None), None)


async def read_uploads(files: list[UploadFile]) -> list[tuple[str, bytes]]:
    return [(f.filename or "upload", await f.read()) for f in files]


async def answer(service: RecommendService, metrics: Metrics, uploads: list[tuple[str, bytes]], ids: list[str],
                 scorer: str | None, k: int | None) -> Answer:
    got = await service.answer(uploads, ids, scorer, k)
    for stage, ms in got.timing_ms.items():
        metrics.stage.labels(stage).observe(ms / 1e3)
    return got


@router.post("/recommend", summary="Songs for one photo (upload) or one corpus image id",
             response_model=RecommendResponse, responses=REFUSALS)
async def recommend(
    request: Request,
    image: Annotated[UploadFile | None, File(description="the photo (multipart)")] = None,
    image_id: Annotated[str | None, Form(description="a corpus image id instead of an upload")] = None,
    scorer: Annotated[str | None, Form(description="scorer name (default: the service's)")] = None,
    k: Annotated[int | None, Form(description="number of songs")] = None,
    q_image_id: Annotated[str | None, Q(alias="image_id", description="image id as a query field")] = None,
    q_scorer: Annotated[str | None, Q(alias="scorer")] = None,
    q_k: Annotated[int | None, Q(alias="k")] = None,
) -> JSONResponse:  # a Response is returned as is: the schema documents it, no validation pass over our own dict
    service = service_of(request)
    ids = [i for i in (first(image_id, q_image_id),) if i is not None]
    if image is not None and ids:
        raise ServiceError(400, "bad_request", "send either an upload 'image' or an 'image_id', not both")
    uploads = await read_uploads([image] if image is not None else [])
    got = await answer(service, metrics_of(request), uploads, ids, scorer or q_scorer, first(k, q_k))
    return JSONResponse({"scorer": got.scorer, "songs": service.describe(got.items[0][1]),
                         "timing_ms": got.timing_ms})


@router.post("/recommend/batch", summary="Songs for several uploads and/or image ids in one call",
             response_model=BatchResponse, responses=REFUSALS)
async def recommend_batch(
    request: Request,
    image: Annotated[list[UploadFile] | None, File(description="photos (repeat the field)")] = None,
    image_id: Annotated[list[str] | None, Form(description="corpus image ids (repeat the field)")] = None,
    scorer: Annotated[str | None, Form()] = None,
    k: Annotated[int | None, Form()] = None,
    q_image_id: Annotated[list[str] | None, Q(alias="image_id")] = None,
    q_scorer: Annotated[str | None, Q(alias="scorer")] = None,
    q_k: Annotated[int | None, Q(alias="k")] = None,
) -> JSONResponse:
    service = service_of(request)
    uploads = await read_uploads(image or [])
    got = await answer(service, metrics_of(request), uploads, (image_id or []) + (q_image_id or []),
                       scorer or q_scorer, first(k, q_k))
    return JSONResponse({"scorer": got.scorer, "timing_ms": got.timing_ms,
                         "results": [{"query": label, "songs": service.describe(recs)} for label, recs in got.items]})



