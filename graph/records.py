"""Corpus records: one dataclass per line of songs.jsonl / images.jsonl."""
from __future__ import annotations

from dataclasses import dataclass

from graph.common.skips import SkipLog


@dataclass(frozen=True)
class Song:
    id: str
    title: str
    artist: str
    lyrics: str
    language: str  # "zh" | "en"
    popularity: float = 0.0  # higher = more popular; see manifest.json for the signal used


@dataclass(frozen=True)
class Image:
    id: str
    file: str  # path relative to the corpus directory
    tags: tuple[str, ...] = ()
    caption: str = ""
    language: str = "zh"  # language of the caption
    tag_language: str = "en"  # language of the tags
    source: str = ""
    licence: str = ""
    kind: str = ""  # "photo" | "drawing" | "" (not stated): lets the evaluation report real photos apart


SONG_REQUIRED = {"id": str, "title": str, "lyrics": str, "language": str}
SONG_OPTIONAL = {"artist": (str, ""), "popularity": ((int, float), 0.0)}
IMAGE_REQUIRED = {"id": str, "file": str}
IMAGE_OPTIONAL = {
    "tags": (list, []),
    "caption": (str, ""),
    "language": (str, "zh"),
    "tag_language": (str, "en"),
    "source": (str, ""),
    "licence": (str, ""),
    "kind": (str, ""),
}
LANGUAGES = ("zh", "en")
IMAGE_KINDS = ("photo", "drawing", "")


@dataclass
class LoadReport(SkipLog):
    """Counted skips and oddities of one corpus load; printed by the CLI."""

    songs: int = 0
    images: int = 0

    def lines(self) -> list[str]:
        return [f"loaded {self.songs} songs, {self.images} images", *self.skip_lines()]
