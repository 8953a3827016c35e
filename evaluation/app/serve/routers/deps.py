"""What every router receives: the service and its metrics, from the application's state."""
from __future__ import annotations

from fastapi import Request

from evaluation.app.serve.metrics import Metrics
from evaluation.app.serve.service import RecommendService


def service_of(request: Request) -> RecommendService:
    return request.app.state.service


def metrics_of(request: Request) -> Metrics:
    return request.app.state.metrics
