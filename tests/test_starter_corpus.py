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
    from graph.corpus import load_corpus

    return load_corpus(STARTER, check_files=False).keywords or []


def _params() -> dict:
    return json.loads((STARTER / "manifest.json").read_text(encoding="utf-8"))["counts"]["selection"]["params"]


def test_keywords_follow_the_products_rule_with_its_defaults():
    from graph.vocabulary import SelectionParams

    keywords, songs, p = _keywords(), _jsonl("songs.jsonl"), _params()
    defaults = SelectionParams()
    # the builder called graph.vocabulary.select_keywords with the product's defaults: no hand rule
    assert p == {k: getattr(defaults, k) for k in p}
    assert 1 <= len(keywords) <= (p["num"] or p["max_num"]) and len(set(keywords)) == len(keywords)  # num None: auto
    assert not (STARTER / "lexicon.tsv").exists()  # no hand-derived lexicon: the product's bridge links tags
    df = Counter(k for s in songs for k in keywords if k in s["lyrics"])  # substring, as a hit is counted
    for k in keywords:
        assert p["min_songs"] <= df[k] <= p["max_song_share"] * len(songs), (k, df[k], len(songs))


def test_every_keyword_has_images_through_the_products_bridge():
    from graph.bridge import Bridge
    from graph.captions import image_keywords
    from graph.corpus import load_corpus

    c = load_corpus(STARTER, check_files=False)
    kw, bridge = frozenset(c.keywords or []), Bridge.for_corpus(c)  # the bridge build-graph uses (corpus usage)
    per_kw: Counter[str] = Counter()
    for im in c.images:
        per_kw.update(image_keywords(im, bridge, kw)[0].keys())  # the default edges: graph.edge_model's drop on
    assert len(c.images) >= 1000
    for k in kw:
        assert per_kw[k] >= 1, k
    floor = json.loads((STARTER / "manifest.json").read_text(encoding="utf-8"))["counts"]["selection"]["min_images"]
    assert floor == 3  # --min-images auto kept its first floor: the starter's images show 211 words 3+ times
    assert sum(per_kw[k] >= floor for k in kw) >= 0.9 * len(kw)


def test_real_photos_are_marked_and_licensed():
    images = _jsonl("images.jsonl")
    kinds = Counter(im.get("kind") for im in images)
    assert set(kinds) <= {"photo", "drawing"} and kinds["photo"] >= 230 and kinds["drawing"] >= 500, kinds
    assert all(im["licence"] for im in images if im["kind"] == "photo")
    # photos come from several packages, each named with its version: not one package's stamps only
    photo_sources = Counter(im["source"].split(" ")[0] for im in images if im["kind"] == "photo")
    assert len(photo_sources) >= 6 and max(photo_sources.values()) <= 0.9 * kinds["photo"], photo_sources
    assert all(" " in im["source"] for im in images), "source without a version"


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
