"""Projector export with pictures: sprite geometry against the metadata rows, labels from the corpus."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from engine.embeddings import EmbeddingTable
from engine.projector_sprite import BLANK, MAX_SPRITE_PX, VertexInfo, sprite_geometry
from evaluation.app.cli import main
from graph.corpus import Corpus
from graph.records import Image as ImageRecord
from graph.records import Song
from tests.scorer_contract import make_run

COLORS = {"a": (200, 30, 30), "b": (30, 30, 200), "c": (30, 160, 30)}


def _corpus(root) -> Corpus:
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (20, 10), COLORS["a"]).save(root / "images" / "a.png")  # wide: letterboxed in its tile
    Image.new("RGB", (300, 300), COLORS["b"]).save(root / "images" / "b.png")  # large: shrunk
    Image.new("RGBA", (8, 8), COLORS["c"] + (255,)).save(root / "images" / "c.png")  # tiny, alpha: enlarged, RGB
    (root / "images" / "broken.png").write_bytes(b"not a png")
    images = [ImageRecord("a", "images/a.png", caption="red box"), ImageRecord("b", "images/b.png"),
              ImageRecord("c", "images/c.png"), ImageRecord("broken", "images/broken.png")]
    songs = [Song("s1", "水调歌头", "苏轼", "明月几时有", "zh"), Song("s2", "Untitled", "", "la", "en")]
    return Corpus(root, songs, images, ["月"], {})


IDS = ["img:a", "song:s1", "kw:月", "img:b", "img:broken", "img:c", "song:s2", "img:not-in-corpus"]


def test_sprite_tiles_follow_the_metadata_rows(tmp_path):
    info = VertexInfo.from_corpus(_corpus(tmp_path / "corpus"))
    t = EmbeddingTable(IDS, np.arange(len(IDS) * 3, dtype=np.float32).reshape(-1, 3))
    out = t.save(tmp_path / "proj", "projector", vertex_info=info)
    rows = (out / "metadata.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "id\tkind\tlabel" and [r.split("\t")[0] for r in rows[1:]] == IDS
    labels = [r.split("\t")[2] for r in rows[1:]]
    assert labels == ["red box", "水调歌头 · 苏轼", "月", "b", "broken", "c", "Untitled", ""]
    cols, tile = 3, 64  # ceil(sqrt(8)) tiles a side
    config = (out / "projector_config.pbtxt").read_text(encoding="utf-8")
    assert 'image_path: "sprite.png"' in config and config.count(f"single_image_dim: {tile}") == 2
    with Image.open(out / "sprite.png") as im:
        sheet = np.asarray(im.convert("RGB"))
    assert sheet.shape == (cols * tile, cols * tile, 3)

    def tile_of(i: int) -> np.ndarray:
        x, y = (i % cols) * tile, (i // cols) * tile
        return sheet[y:y + tile, x:x + tile]

    for i, vid in enumerate(IDS):
        px = tile_of(i)
        name = vid.split(":", 1)[1]
        if name in COLORS:  # the picture, centred: its centre pixel is the image's colour
            assert tuple(px[tile // 2, tile // 2]) == COLORS[name], vid
        else:  # song, keyword, unreadable or unknown image: blank
            assert (px == BLANK).all(), vid
    a = tile_of(0)  # 20x10 upscaled to 64x32, letterboxed: blank above and below
    assert (a[:16] == BLANK).all() and (a[16:48] == COLORS["a"]).all() and (a[48:] == BLANK).all()
    assert (tile_of(5) == COLORS["c"]).all()  # 8x8 enlarged to the full tile
    for i in range(len(IDS), cols * cols):  # tiles past the last row stay blank
        assert (tile_of(i) == BLANK).all()
    assert info.skips.skipped == {"image unreadable, blank tile": 1}
    back = EmbeddingTable.load(out)  # the reader ignores the sprite
    assert back.ids == IDS and np.array_equal(back.vectors, t.vectors)


@pytest.mark.parametrize("n, cols, tile", [(1, 1, 64), (2, 2, 64), (100, 10, 64), (101, 11, 64),
                                           (20000, 142, 57)])
def test_sprite_geometry_is_square_and_within_tensorboards_limit(n, cols, tile):
    assert sprite_geometry(n, 64) == (cols, tile)
    assert cols * cols >= n and (cols - 1) ** 2 < n and cols * tile <= MAX_SPRITE_PX


def test_export_command_finds_the_corpus_through_the_run(tmp_path, capsys):
    run = make_run(tmp_path)
    assert main(["export", "--embeddings", str(run / "embeddings.npz"), "--format", "projector",
                 "--out", str(tmp_path / "proj")]) == 0
    assert "thumbnails from corpus" in capsys.readouterr().out
    ids = [r.split("\t")[0] for r in (tmp_path / "proj" / "metadata.tsv").read_text(encoding="utf-8").splitlines()[1:]]
    cols, tile = sprite_geometry(len(ids))
    with Image.open(tmp_path / "proj" / "sprite.png") as im:
        assert im.size == (cols * tile, cols * tile)
        sheet = np.asarray(im.convert("RGB"))
    first_song = next(i for i, v in enumerate(ids) if v.startswith("song:"))
    x, y = (first_song % cols) * tile, (first_song // cols) * tile
    assert (sheet[y:y + tile, x:x + tile] == BLANK).all()
    first_img = ids.index("img:i1")
    x, y = (first_img % cols) * tile, (first_img // cols) * tile
    assert not (sheet[y:y + tile, x:x + tile] == BLANK).all()
