"""Issue 17's photo catalogue builder (graph.secondcorpus.photos) on a tiny fake raw tree: which candidates are
photos, what text each row carries as tagged and named one by one, refusal of a used --out, no partial folder."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from graph.captions import readable
from graph.common.errors import Img2SongError
from graph.corpus import load_corpus
from graph.secondcorpus import build as corpus_build
from graph.secondcorpus import photos
from graph.starter.build import CEDICT_WHEEL

STAMPS = "tuxpaint-stamps-default/usr/share/tuxpaint/stamps"
MATE = "mate-backgrounds"
PLASMA_DIR = "plasma-workspace-wallpapers/usr/share/wallpapers"


def _photo(size: int = 96, seed: int = 0) -> np.ndarray:
    """An opaque RGBA array with shading and sensor-like noise: no flat fill, so a stamp of it is a photo cut-out."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size]
    shade = np.stack([xx, yy, (xx + yy) // 2], -1) * 2 + rng.integers(0, 12, (size, size, 3))
    return np.dstack([shade.clip(0, 255), np.full((size, size), 255)]).astype(np.uint8)


def _raw(tmp_path: Path) -> tuple[Path, Path]:
    """raw/ with 4 tiny ci, CC-CEDICT, two stamps (a photo cut-out, a flat drawing), a mate wallpaper and a Plasma
    wallpaper; a starter holding ci 1."""
    raw, starter = tmp_path / "raw", tmp_path / "starter"
    dist = raw / "chinese-poetry/dist/songci"
    dist.mkdir(parents=True)
    cis = [{"author": f"作者{i}", "rhythmic": f"调{i}", "paragraphs": [f"春风{i}吹柳岸。", "明月照江楼。"]}
           for i in range(4)]
    (dist / "ci.song.0.json").write_text(json.dumps(cis, ensure_ascii=False), encoding="utf-8")
    (dist / "宋词三百首.json").write_text("[]", encoding="utf-8")
    starter.mkdir()
    (starter / "songs.jsonl").write_text(json.dumps({"id": "ci-000001"}) + "\n")
    (raw / CEDICT_WHEEL).parent.mkdir(parents=True)
    (raw / CEDICT_WHEEL).write_text("紅狐 红狐 [hong2 hu2] /red fox/\n", encoding="utf-8")
    frog = raw / STAMPS / "animals/amphibians"
    frog.mkdir(parents=True)
    Image.fromarray(_photo(), "RGBA").save(frog / "frog-1.png")
    (frog / "frog-1.txt").write_text("Frog\nzh_CN.utf8=青蛙。\n", encoding="utf-8")
    tree = raw / STAMPS / "plants/trees"
    tree.mkdir(parents=True)
    flat = np.zeros((96, 96, 4), np.uint8)
    flat[..., 3], flat[:48, :, :3], flat[48:, :, :3] = 255, (30, 160, 30), (120, 80, 20)  # two flat fills
    Image.fromarray(flat, "RGBA").save(tree / "oak.png")
    (tree / "oak.txt").write_text("Oak tree\n", encoding="utf-8")
    nature = raw / MATE / "usr/share/backgrounds/mate/nature"
    nature.mkdir(parents=True)
    (raw / MATE / "usr/share/backgrounds/mate/abstract").mkdir()
    Image.fromarray(_photo(seed=1)[..., :3], "RGB").save(nature / "RedFox_2.jpg")
    (raw / MATE / f"usr/share/doc/{MATE}").mkdir(parents=True)
    (raw / MATE / f"usr/share/doc/{MATE}/copyright").write_text(
        "Files: *\nCopyright: 2020 A. Photographer\nLicense: GPL-2+\n", encoding="utf-8")
    (raw / "mate-backgrounds_1.26.0-1_all.deb").write_bytes(b"")  # deb_versions reads only the name
    altai = raw / PLASMA_DIR / "Altai"
    (altai / "contents/images").mkdir(parents=True)
    Image.fromarray(_photo(seed=2)[..., :3], "RGB").save(altai / "contents/images/1080x1920.jpg")
    (altai / "metadata.json").write_text(json.dumps({"KPlugin": {
        "Name": "Altai", "Name[zh_CN]": "阿尔泰", "License": "CC-BY-SA-4.0", "Authors": [{"Name": "K. D. E."}]}}),
        encoding="utf-8")
    return raw, starter


def _rows(out: Path) -> dict[str, dict]:
    return {r["id"]: r for r in map(json.loads, (out / "images.jsonl").read_text(encoding="utf-8").splitlines())}


def test_as_tagged_and_named_one_by_one(tmp_path):
    raw, starter = _raw(tmp_path)
    made = photos.build(raw, tmp_path / "tagged", starter, max_songs=10)
    assert made.songs == 3 and made.images == 3
    assert made.skipped == {"candidate that is a drawing": 1}  # the flat oak stamp
    tagged = _rows(tmp_path / "tagged")
    assert sorted(tagged) == ["bg-mate-backgrounds-redfox-2", "bg-plasma-altai", "tux-animals-amphibians-frog-1"]
    frog = tagged["tux-animals-amphibians-frog-1"]
    assert frog["tags"] == ["animal", "amphibian", "frog"] and frog["caption"] == "青蛙。" and frog["language"] == "zh"
    assert tagged["bg-mate-backgrounds-redfox-2"]["tags"] == ["red", "fox"]
    assert tagged["bg-mate-backgrounds-redfox-2"]["source"] == "mate-backgrounds 1.26.0-1"
    assert tagged["bg-mate-backgrounds-redfox-2"]["licence"] == "GPL-2+ (© 2020 A. Photographer)"
    assert tagged["bg-plasma-altai"]["caption"] == "阿尔泰"

    made = photos.build(raw, tmp_path / "named", starter, named=True, max_songs=10)
    named = _rows(tmp_path / "named")
    assert sorted(named) == sorted(tagged)
    assert {k: (r["tags"], r["caption"], r["language"]) for k, r in named.items()} == {
        "tux-animals-amphibians-frog-1": ([], "frog-1.png", "en"),  # no folder words, no Chinese caption
        "bg-mate-backgrounds-redfox-2": ([], "RedFox_2.jpg", "en"),
        "bg-plasma-altai": ([], "Altai.jpg", "en")}  # a Plasma wallpaper's file is named by its size; its folder
    for k, r in named.items():  # everything but the text is the tagged row's
        assert {f: v for f, v in r.items() if f not in ("tags", "caption", "language")} == \
               {f: v for f, v in tagged[k].items() if f not in ("tags", "caption", "language")}
    assert [readable(r["caption"]) for r in named.values()] == ["frog", "Red Fox", "Altai"]

    for out in ("tagged", "named"):  # the product's loader accepts both, images decoded
        corpus = load_corpus(tmp_path / out)
        assert len(corpus.images) == 3 and len(corpus.songs) == 3 and not corpus.report.skipped
        assert {im.kind for im in corpus.images} == {"photo"}
        assert {s.id for s in corpus.songs} == {"ci-000000", "ci-000002", "ci-000003"}  # not the starter's ci 1
    with Image.open(tmp_path / "named" / named["bg-plasma-altai"]["file"]) as im:
        assert im.format == "JPEG" and max(im.size) <= 256


def test_a_used_out_is_refused_and_a_failed_build_leaves_nothing(tmp_path, monkeypatch, capsys):
    raw, starter = _raw(tmp_path)
    used = tmp_path / "used"
    used.mkdir()
    (used / "mine.txt").write_text("a user's file")
    argv = ["--raw", str(raw), "--starter", str(starter), "--out", str(used)]
    assert photos.main(argv) == 2
    assert capsys.readouterr().out == f"error: {used}: not empty; give a new directory\n"
    assert (used / "mine.txt").read_text() == "a user's file" and sorted(p.name for p in used.iterdir()) == ["mine.txt"]

    def broken(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(corpus_build, "write_text", broken)  # fails after the photos are rendered into the partial folder
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(OSError, match="disk full"):
        photos.build(raw, tmp_path / "new", starter)
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no corpus, no .new.partial
    monkeypatch.undo()

    for p in (raw / STAMPS / "animals/amphibians/frog-1.png", raw / MATE / "usr/share/backgrounds/mate/nature/RedFox_2.jpg",
              raw / PLASMA_DIR / "Altai/contents/images/1080x1920.jpg"):
        p.write_bytes(p.read_bytes()[:40])  # every photo truncated: none renders
    with pytest.raises(Img2SongError, match="no real photo"):
        photos.build(raw, tmp_path / "new", starter)
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert photos.main(["--raw", str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 2
    assert "nowhere: --raw folder not found" in capsys.readouterr().out
