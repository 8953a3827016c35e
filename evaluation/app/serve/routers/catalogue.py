"""GET /songs/{id}: the catalogue's songs."""
from __future__ import annotations

from fastapi import APIRouter, Request

from evaluation.app.serve.models import SongDetail, refusals
from evaluation.app.serve.routers.deps import service_of

router = APIRouter(tags=["catalogue"])


@router.get("/songs/{song_id:path}", summary="One song of the catalogue (ids may contain '/')",
            response_model=SongDetail, responses=refusals(404, 422))
async def song(song_id: str, request: Request) -> dict:
    return service_of(request).song(song_id)
