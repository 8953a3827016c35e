"""Related-word ground truth through conceptnet-lite, built offline from a tiny ConceptNet-format dump."""
from __future__ import annotations

import pytest

import evaluation.measure.groundtruth as gt
from evaluation.measure.groundtruth import RelatedWords, keyword_language, related_for_run
from evaluation.stages.rundir import RunDir
from graph.common.errors import Img2SongError
from tests.scorer_contract import write_dump

ROWS = [
    ("/r/RelatedTo", "/c/zh/月", "/c/zh/月光", 2.0),
    ("/r/Synonym", "/c/zh/月", "/c/zh/月亮", 3.0),
    ("/r/RelatedTo", "/c/zh/夜", "/c/zh/月", 1.5),  # the keyword at the end of the edge counts too
    ("/r/RelatedTo", "/c/zh/月", "/c/zh/月光", 0.5),  # a weaker duplicate does not lower 月光
    ("/r/Antonym", "/c/zh/月", "/c/zh/日", 9.0),  # not "conceptually similar"
    ("/r/RelatedTo", "/c/zh/月", "/c/en/moon", 8.0),  # other language: left out
    ("/r/RelatedTo", "/c/en/moon", "/c/en/full_moon", 1.0),
    ("/r/RelatedTo", "/c/en/moon", "/c/en/night", 1.0),
    ("/r/IsA", "/c/zh/花", "/c/zh/植物", 1.0),
]


@pytest.fixture
def related(tmp_path):
    dump = write_dump(tmp_path / "related_words.tsv.gz", ROWS)
    return RelatedWords(dump=dump, cache_dir=tmp_path / "cache")


def test_ranking_by_weight_same_language_no_antonyms(related):
    assert related.related("月") == ["月亮", "月光", "夜"]
    assert related.related("月", n=2) == ["月亮", "月光"]
    assert related.related("moon") == ["full moon", "night"]  # ties by word; underscores back to spaces
    assert related.related("Moon") == ["full moon", "night"]
    assert related.related("雪") == [] and related.related("snow") == []
    assert related.top_related(["花", "月"], 1, progress=False) == {"月": ["月亮"], "花": ["植物"]}


def test_db_built_once_and_reused(tmp_path, related, monkeypatch):
    path = related.connect()
    assert path.parent == tmp_path / "cache" and path.suffix == ".db"
    import conceptnet_lite.db

    monkeypatch.setattr(conceptnet_lite.db, "load_dump_to_db", lambda *a, **k: pytest.fail("rebuilt the DB"))
    again = RelatedWords(dump=tmp_path / "related_words.tsv.gz", cache_dir=tmp_path / "cache")
    assert again.connect() == path
    assert again.related("花") == ["植物"]
    assert RelatedWords(db_path=path).related("月", 1) == ["月亮"]  # a user-given DB works the same


def test_per_run_json_cache(tmp_path, related, monkeypatch):
    run = RunDir(tmp_path / "run").create()
    words, fresh = related_for_run(run.load_related_words(), ["月", "花"], related, 100, progress=False)
    assert words == {"月": ["月亮", "月光", "夜"], "花": ["植物"]} and fresh["words"] == words
    path = run.save_related_words(fresh)
    assert path.is_file() and run.load_related_words() == fresh
    monkeypatch.setattr(RelatedWords, "related", lambda *a, **k: pytest.fail("recomputed a cached keyword"))
    assert related_for_run(run.load_related_words(), ["花"], related, 100, progress=False) == ({"花": ["植物"]}, None)


def test_bad_inputs_are_clear_errors(tmp_path):
    bad = tmp_path / "bad.tsv"
    bad.write_text("/a/x\t/r/RelatedTo\t/c/zh/月\n", encoding="utf-8")
    with pytest.raises(Img2SongError, match=r"bad.tsv:1: expected 5"):
        RelatedWords(dump=bad, cache_dir=tmp_path / "c").related("月")
    with pytest.raises(Img2SongError, match="not found"):
        RelatedWords(dump=tmp_path / "none.tsv.gz", cache_dir=tmp_path / "c").related("月")
    with pytest.raises(Img2SongError, match="ConceptNet DB not found"):
        RelatedWords(db_path=tmp_path / "none.db").related("月")
    assert not list((tmp_path / "c").glob("*.db"))  # nothing half-built left behind


def test_keyword_language():
    assert keyword_language("月光") == "zh" and keyword_language("moon") == "en"
    assert gt.to_label("Full Moon") == "full_moon"
