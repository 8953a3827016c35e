"""The shipped starter corpus discriminates: rare-enough keywords, each with images and songs; photos with licences."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

STARTER = Path(__file__).resolve().parents[1] / "data" / "starter"
pytestmark = pytest.mark.skipif(not (STARTER / "manifest.json").is_file(), reason="starter corpus not built")


def _jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (STARTER / name).read_text(encoding="utf-8").splitlines()]


def _keywords() -> list[str]:
    return (STARTER / "keywords.txt").read_text(encoding="utf-8").split()


def test_keywords_are_rare_enough_and_frequent_enough():
    keywords, songs = _keywords(), _jsonl("songs.jsonl")
    assert 60 <= len(keywords) <= 100 and len(set(keywords)) == len(keywords)
    assert any(len(k) > 1 for k in keywords)  # multi-character words are allowed, not only characters
    df = Counter(k for s in songs for k in keywords if k in s["lyrics"])  # substring, as a hit is counted
    for k in keywords:
        assert 30 <= df[k] <= 0.05 * len(songs), (k, df[k], len(songs))


def test_every_keyword_has_images_through_the_lexicon_or_a_caption():
    keywords, images = _keywords(), _jsonl("images.jsonl")
    lexicon: dict[str, set[str]] = {}
    for line in (STARTER / "lexicon.tsv").read_text(encoding="utf-8").splitlines():
        en, zh = line.split("\t")
        lexicon.setdefault(en, set()).add(zh)
    per_kw: Counter[str] = Counter()
    for im in images:
        reach = {k for t in im["tags"] for k in lexicon.get(t, ())}
        if im["language"] == "zh":
            reach |= {k for k in keywords if k in im["caption"]}
        per_kw.update(reach & set(keywords))
    assert len(images) >= 1500
    for k in keywords:
        assert per_kw[k] >= 8, (k, per_kw[k])


def test_images_are_small_and_carry_source_and_licence():
    from PIL import Image

    images = _jsonl("images.jsonl")
    assert sum(1 for im in images if "backgrounds" in im["source"] or "wallpapers" in im["source"]) >= 5
    for im in images:
        assert im["source"] and im["licence"], im["id"]
        with Image.open(STARTER / im["file"]) as f:
            assert max(f.size) <= 256 and f.format == "JPEG", (im["id"], f.size)


def test_data_folder_stays_small():
    total = sum(p.stat().st_size for p in STARTER.parent.rglob("*") if p.is_file())
    assert total < 40 * 2**20, total
