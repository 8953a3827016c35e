"""Response models of the HTTP API: every answer and every refusal is a typed schema in /openapi.json."""
from __future__ import annotations

from pydantic import BaseModel, Field


class SongAnswer(BaseModel):
    """One recommended song, with the reason the scorer gives for it."""

    id: str = Field(description="song id in the run's corpus")
    title: str
    artist: str = Field(description="empty when the corpus names none")
    score: float = Field(description="the scorer's score: higher ranks first; scales differ between scorers")
    explanation: str = Field(description="why this song: the keywords, images or parts that put it there")


class RecommendResponse(BaseModel):
    scorer: str = Field(description="the scorer that answered")
    songs: list[SongAnswer] = Field(description="best first, at most k")
    timing_ms: dict[str, float] = Field(description="milliseconds per stage: decode, cnn, cnn_cpu, score, total")


class BatchResult(BaseModel):
    query: str = Field(description="the upload's file name or the image id, in request order (uploads first)")
    songs: list[SongAnswer]


class BatchResponse(BaseModel):
    scorer: str
    timing_ms: dict[str, float] = Field(description="milliseconds per stage, for the whole batch")
    results: list[BatchResult]


class SongDetail(BaseModel):
    """A song of the catalogue, lyrics included."""

    id: str
    title: str
    artist: str
    language: str = Field(description="zh or en")
    popularity: float = Field(description="the corpus's popularity signal (0 when it has none)")
    lyrics: str


class Health(BaseModel):
    status: str = Field(description="ok while the service answers")
    run: str = Field(description="the run directory served")
    scorers: dict[str, str] = Field(description="each served scorer and how it was loaded (loaded, fitted, ...)")
    default_scorer: str
    songs: int
    images: int = Field(description="corpus images that may be named by image_id")
    backbone: str | None = Field(description="the CNN that encodes uploads")
    uptime_s: float


class ErrorResponse(BaseModel):
    """Every refusal: a machine-readable kind (also the img2song_errors_total label) and a message."""

    error: str = Field(description="e.g. bad_request, unknown_scorer, bad_k, not_an_image, upload_too_large, busy")
    detail: str = Field(description="what was wrong, naming the field or the limit")


def refusals(*statuses: int) -> dict[int | str, dict]:
    """OpenAPI `responses=` entry documenting the error body for each status a route may answer with."""
    return {s: {"model": ErrorResponse} for s in statuses}
