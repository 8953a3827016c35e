"""GET /healthz and /metrics: what operators and probes read."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from evaluation.app.serve.models import Health
from evaluation.app.serve.routers.deps import metrics_of, service_of

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="Liveness and what is loaded", response_model=Health)
async def healthz(request: Request) -> dict:
    return service_of(request).health()


@router.get("/metrics", summary="Prometheus metrics (text exposition format)", response_class=Response,
            responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}})
async def prometheus(request: Request) -> Response:
    metrics = metrics_of(request)
    return Response(metrics.render(), media_type=metrics.content_type)
