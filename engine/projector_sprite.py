"""Pictures and names for the TensorBoard projector export: a sprite sheet of image thumbnails and vertex labels.

The sprite is square: `cols = ceil(sqrt(N))` tiles a side, row i of metadata.tsv at tile (i % cols, i // cols),
so TensorBoard shows each image vertex as its picture; rows without a picture (songs, keywords, unreadable files)
get a blank tile. The caller passes a `VertexInfo` (the corpus knows the files and titles; engine stays free of
evaluation).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from engine.thumbnails import thumbnail
from graph.common.errors import Img2SongError
from graph.common.skips import SkipLog
from graph.network import PREFIX, Kind

SPRITE_FILE = "sprite.png"
MAX_SPRITE_PX = 8192  # TensorBoard's limit on the sprite's side
BLANK = (255, 255, 255)


@dataclass
class VertexInfo:
    """Vertex id -> image file (for the sprite) and -> display label (song title · artist, keyword, caption)."""

    image_of: Callable[[str], Path | None]
    label_of: Callable[[str], str | None] = lambda vid: None
    skips: SkipLog = field(default_factory=SkipLog)

    @classmethod
    def from_corpus(cls, corpus: Any) -> VertexInfo:
        img, kw, song = PREFIX[Kind.IMAGE], PREFIX[Kind.KEYWORD], PREFIX[Kind.SONG]
        songs = {s.id: s for s in corpus.songs}
        images = {i.id: i for i in corpus.images}

        def image_of(vid: str) -> Path | None:
            i = images.get(vid[len(img):]) if vid.startswith(img) else None
            return corpus.image_path(i) if i is not None else None

        def label_of(vid: str) -> str | None:
            if vid.startswith(song) and vid[len(song):] in songs:
                s = songs[vid[len(song):]]
                return f"{s.title} · {s.artist}" if s.artist else s.title
            if vid.startswith(kw):
                return vid[len(kw):]
            if vid.startswith(img) and vid[len(img):] in images:
                i = images[vid[len(img):]]
                return i.caption or i.id
            return None

        return cls(image_of, label_of)


def sprite_geometry(n: int, tile: int = 64) -> tuple[int, int]:
    """(cols, tile px) for n rows: a square of ceil(sqrt(n)) tiles, tiles shrunk so the side stays <= 8192 px."""
    cols = max(1, math.ceil(math.sqrt(max(n, 1))))
    tile = min(tile, MAX_SPRITE_PX // cols)
    if tile < 1:
        raise Img2SongError(f"projector sprite: {n} vertices do not fit a {MAX_SPRITE_PX} px sprite")
    return cols, tile


def write_sprite(ids: Sequence[str], info: VertexInfo, path: Path, tile: int = 64) -> tuple[int, int]:
    """Sprite sheet of `ids` (metadata row order) to `path` (PNG); returns (cols, tile px)."""
    cols, tile = sprite_geometry(len(ids), tile)
    sheet = Image.new("RGB", (cols * tile, cols * tile), BLANK)
    for i, vid in enumerate(ids):
        src = info.image_of(vid)
        if src is None:
            continue
        try:
            im = thumbnail(src, tile, BLANK, upscale=True)
        except Img2SongError:
            info.skips.skip("image unreadable, blank tile", str(src))
            continue
        x, y = (i % cols) * tile, (i // cols) * tile
        sheet.paste(im, (x + (tile - im.width) // 2, y + (tile - im.height) // 2))  # centred in its tile
    sheet.save(path, "PNG")
    return cols, tile


def sprite_config(tile: int) -> str:
    return (f'  sprite {{\n    image_path: "{SPRITE_FILE}"\n    single_image_dim: {tile}\n'
            f"    single_image_dim: {tile}\n  }}\n")
