"""A user's own corpus (songs.jsonl, images.jsonl, images/ only) through build-graph: selection + bridge, end to end.

The small corpus is cut from data/starter with its keywords.txt, lexicon.tsv and related words left out: 800 ci and
80 images, five for each of the 16 most common English tags.
"""
from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from evaluation.app.cli import main
from graph.build import build_network
from graph.corpus import load_corpus
from graph.vocabulary import SelectionParams

STARTER = Path(__file__).resolve().parents[1] / "data" / "starter"


def cut_own_corpus(dst: Path, n_songs: int = 800, n_tags: int = 16, per_tag: int = 5) -> Path:
    (dst / "images").mkdir(parents=True)
    songs = (STARTER / "songs.jsonl").read_text(encoding="utf-8").splitlines()[:n_songs]
    imgs = [json.loads(ln) for ln in (STARTER / "images.jsonl").read_text(encoding="utf-8").splitlines()]
    imgs = [i for i in imgs if i.get("tag_language", "en") == "en" and i.get("tags")]
    common = [t for t, _ in Counter(t for i in imgs for t in set(i["tags"])).most_common(n_tags)]
    chosen: list[dict] = []
    for t in common:
        chosen += [i for i in imgs if t in i["tags"] and i not in chosen][:per_tag]
    (dst / "songs.jsonl").write_text("\n".join(songs) + "\n", encoding="utf-8")
    (dst / "images.jsonl").write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in chosen),
                                      encoding="utf-8")
    for i in chosen:
        shutil.copy(STARTER / i["file"], dst / i["file"])
    return dst


@pytest.fixture(scope="module")
def own_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("own")
    corpus = cut_own_corpus(base / "corpus")
    before = sorted(p.name for p in corpus.iterdir())
    run = base / "run"
    rc = main(["build-graph", "--corpus", str(corpus), "--out", str(run)])
    return corpus, run, rc, before


def test_build_graph_selects_keywords_and_bridges_tags(own_run, capsys):
    corpus, run, rc, before = own_run
    assert rc == 0
    assert sorted(p.name for p in corpus.iterdir()) == before == ["images", "images.jsonl", "songs.jsonl"]
    stats = json.loads((run / "network_stats.json").read_text(encoding="utf-8"))
    assert stats["vocabulary_source"] == "selected (no keywords.txt)"
    manifest = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert manifest["stages"]["build-graph"]["params"]["vocabulary"] == stats["vocabulary_source"]
    assert stats["keywords"] >= 3 and stats["image_keyword_edges"] > 0 and stats["query_images"] > 0
    # every image edge comes from English tags reaching Chinese keywords through CC-CEDICT (no lexicon here)
    kw = json.loads((run / "keywords.json").read_text(encoding="utf-8"))
    assert all(all("\u4e00" <= ch <= "\u9fff" for ch in k) for k in kw["vocabulary"])
    songs = len(load_corpus(corpus, check_files=False).songs)
    p = SelectionParams()
    for k, row in stats["per_keyword"].items():
        assert p.min_songs <= row["songs"] <= p.max_song_share * songs, k  # the selection's song limits, as built
    reach = stats["reachability"]  # songs without a keyword still get edges through their lyric words
    assert reach["songs_with_edges"] == stats["songs"] and reach["song_share_with_edges"] >= 0.9
    assert reach["songs_with_only_word_edges"] > 0 and stats["song_word_edges"] > 0
    lines = (run / "keywords.txt").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("# keywords selected by img2song")
    assert [ln for ln in lines if not ln.startswith("#")] == kw["vocabulary"]


def test_written_keywords_are_used_as_given(own_run, tmp_path):
    corpus, run, rc, _ = own_run
    copy = tmp_path / "corpus"
    shutil.copytree(corpus, copy)
    shutil.copy(run / "keywords.txt", copy / "keywords.txt")
    c = load_corpus(copy, check_files=False)
    expected = json.loads((run / "keywords.json").read_text(encoding="utf-8"))["vocabulary"]
    assert c.keywords == expected
    from evaluation.stages.pipeline import corpus_bridge

    result = build_network(c, progress=False, bridge=corpus_bridge(c))  # the bridge build-graph used
    assert result.selection is None and result.vocabulary == expected
    assert result.image_keywords == json.loads((run / "keywords.json").read_text(encoding="utf-8"))["images"]
