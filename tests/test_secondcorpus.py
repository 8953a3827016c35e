"""The second corpus's 'named one by one' images: another corpus's images with tags removed, caption kept."""
from __future__ import annotations

import json
from collections import Counter

import pytest

from graph.common.errors import Img2SongError
from graph.secondcorpus.build import named_one_by_one


def _corpus(root, rows, files=("images/a.jpg", "images/b.jpg")):
    (root / "images").mkdir(parents=True)
    for f in files:
        (root / f).write_bytes(b"\xff\xd8\xff fake jpeg")
    (root / "images.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root


def test_tags_removed_caption_kept_files_copied(tmp_path):
    rows = [{"id": "a", "file": "images/a.jpg", "tags": ["fox", "animal"], "caption": "RedFox_2", "kind": "photo"},
            {"id": "b", "file": "images/b.jpg", "tags": ["cat"], "caption": "  "}]
    src, out = _corpus(tmp_path / "src", rows), tmp_path / "out"
    skipped: Counter[str] = Counter()
    got = named_one_by_one(src, out, skipped)
    assert got == [{"id": "a", "file": "images/a.jpg", "tags": [], "caption": "RedFox_2", "kind": "photo"}]
    assert skipped == {"image without a caption": 1}
    assert (out / "images/a.jpg").read_bytes() == (src / "images/a.jpg").read_bytes()
    assert not (out / "images/b.jpg").exists()


def test_missing_image_file_names_the_line(tmp_path):
    rows = [{"id": "a", "file": "images/a.jpg", "caption": "x"}, {"id": "c", "file": "images/c.jpg", "caption": "y"}]
    src = _corpus(tmp_path / "src", rows)
    with pytest.raises(Img2SongError, match=r"images\.jsonl:2: field 'file'"):
        named_one_by_one(src, tmp_path / "out", Counter())
