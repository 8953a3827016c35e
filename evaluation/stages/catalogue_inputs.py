"""New songs' and images' records for the live catalogue, checked as strictly as the corpus loader and more:
unknown fields, duplicate ids, empty or oversized lyrics, unreadable photos are errors naming file, line and field
(`img2song add`'s JSONL files; the HTTP routes' bodies, with "request body" or "form" in place of the file)."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from graph.common.errors import CorpusError
from graph.common.readers import iter_jsonl
from graph.corpus import MAX_LYRICS_CHARS, _fields
from graph.corpus_files import probe_image, resolve_corpus_file
from graph.records import IMAGE_OPTIONAL, IMAGE_REQUIRED, SONG_OPTIONAL, SONG_REQUIRED, Image, Song


def check_song(obj: Any, file: str | Path, line: int) -> Song:
    """A new song's record, as strictly as the corpus loader and more: unknown fields, empty or oversized lyrics
    are errors naming file, line and field."""
    if not isinstance(obj, dict):
        raise CorpusError(file, line, None, "expected a JSON object")
    unknown = sorted(set(obj) - set(SONG_REQUIRED) - set(SONG_OPTIONAL))
    if unknown:
        raise CorpusError(file, line, unknown[0], f"unknown field (known: {', '.join([*SONG_REQUIRED, *SONG_OPTIONAL])})")
    f = _fields(Path(file), line, obj, SONG_REQUIRED, SONG_OPTIONAL)
    if not f["lyrics"].strip():
        raise CorpusError(file, line, "lyrics", "is empty")
    if len(f["lyrics"]) > MAX_LYRICS_CHARS:
        raise CorpusError(file, line, "lyrics", f"is {len(f['lyrics'])} characters long, over the limit of "
                                                f"{MAX_LYRICS_CHARS}")
    return Song(f["id"], f["title"], f["artist"], f["lyrics"], f["language"], float(f["popularity"]))


def check_image(obj: Any, file: str | Path, line: int, need_file: bool = True) -> Image:
    """A new image's record (fields of images.jsonl; `file` required unless the photo comes another way)."""
    if not isinstance(obj, dict):
        raise CorpusError(file, line, None, "expected a JSON object")
    required = IMAGE_REQUIRED if need_file else {"id": str}
    unknown = sorted(set(obj) - set(IMAGE_REQUIRED) - set(IMAGE_OPTIONAL) - (set() if need_file else {"file"}))
    if unknown or (not need_file and "file" in obj):
        name = unknown[0] if unknown else "file"
        raise CorpusError(file, line, name, "unknown field" if unknown else "not allowed here (the photo is the upload)")
    f = _fields(Path(file), line, obj, required, IMAGE_OPTIONAL)
    if not all(isinstance(t, str) for t in f["tags"]):
        raise CorpusError(file, line, "tags", "must be a list of strings")
    tags = tuple(t.strip() for t in f["tags"] if t.strip())
    if not tags and not f["caption"].strip():
        raise CorpusError(file, line, "tags", "no tags and no caption: nothing links the image to a keyword")
    return Image(f["id"], f.get("file", ""), tags, f["caption"], f["language"], f["tag_language"], f["source"],
                 f["licence"], f["kind"])


def _unique(items: Sequence[tuple[int, Any]], path: Path, what: str) -> None:
    first: dict[str, int] = {}
    for line, x in items:
        if x.id in first:
            raise CorpusError(path, line, "id", f"duplicate {what} id {x.id!r} (first at line {first[x.id]})")
        first[x.id] = line


def read_songs(path: str | Path) -> list[Song]:
    path = Path(path)
    rows = [(line, check_song(obj, path, line)) for line, obj in iter_jsonl(path, objects=False)]
    _unique(rows, path, "song")
    return [s for _, s in rows]


def read_images(path: str | Path) -> list[tuple[Image, Path]]:
    """New images and their photo files (relative to the JSONL file's folder, confined to it, checked readable)."""
    path = Path(path)
    rows = [(line, check_image(obj, path, line)) for line, obj in iter_jsonl(path, objects=False)]
    _unique(rows, path, "image")
    out = []
    for line, img in rows:
        file = resolve_corpus_file(path.parent, img.file, path, line, "file")
        probe = probe_image(file, path, line)
        if probe.skip:
            raise CorpusError(path, line, "file", probe.skip)
        out.append((img, file))
    return out
