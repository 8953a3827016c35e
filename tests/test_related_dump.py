"""The related-words dump: written in ConceptNet 5.7 format by the starter builder, loadable by conceptnet-lite."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

conceptnet_lite = pytest.importorskip("conceptnet_lite")
from conceptnet_lite import Label, edges_for
from conceptnet_lite.db import load_dump_to_db

from graph.related import Edge, concept, edge_line, unpack_dump, write_dump

STARTER = Path(__file__).resolve().parents[1] / "data" / "starter"


def _load(dump_gz: Path, tmp_path: Path, max_edges: int | None = None) -> int:
    plain = tmp_path / "dump.csv"
    n = unpack_dump(dump_gz, plain, max_edges)
    db = tmp_path / "cn.db"
    load_dump_to_db(plain, db, n, delete_dump=False)
    conceptnet_lite.connect(db, db_download_url=None)
    return n


def _ranked(word: str, language: str = "zh") -> list[tuple[str, float]]:
    """Other-end words of a label's same-language edges, heaviest first (how the evaluation ranks them)."""
    concepts = list(Label.get(text=word, language=language).concepts)
    out = {}
    for e in edges_for(concepts, same_language=True):
        other = e.end if e.start.text == word else e.start
        out[other.text] = max(out.get(other.text, 0.0), float(e.etc["weight"]))
    return sorted(out.items(), key=lambda t: (-t[1], t[0]))


def test_edge_line_format():
    line = edge_line(Edge("Synonym", concept("zh", "月"), concept("zh", "月亮"), 1.08596, "cilin"))
    parts = line.rstrip("\n").split("\t")
    assert parts[:4] == ["/a/[/r/Synonym/,/c/zh/月/,/c/zh/月亮/]", "/r/Synonym", "/c/zh/月", "/c/zh/月亮"]
    assert json.loads(parts[4])["weight"] == 1.086
    assert concept("en", "Full Moon") == "/c/en/full_moon"


def test_edge_etc_is_json_dumps_of_the_record():
    """The JSON field is built without json.dumps for speed: it must be json.dumps's text, weight for weight."""
    import math
    import random

    from graph.related import LICENCES, edge_etc

    rng = random.Random(0)
    weights = [1.08596, 2, 0, -0.0, 0.1 + 0.2, 1e-7, 5e-5, 123456.78912, 1e22, -3.25, math.inf, -math.inf, math.nan]
    weights += [rng.uniform(-5, 5) for _ in range(2000)] + [rng.randrange(10) / 8 for _ in range(200)]
    cases = 0
    for w in weights:
        for ds in LICENCES:
            etc = {"dataset": f"/d/{ds}", "license": LICENCES[ds], "weight": round(w, 4)}
            assert edge_etc(Edge("Synonym", "/c/zh/a", "/c/zh/b", w, ds)) == json.dumps(etc, ensure_ascii=False), w
            cases += 1
    assert cases == len(LICENCES) * 2213


def test_tiny_dump_ranks_related_words(tmp_path):
    edges = [
        Edge("RelatedTo", concept("zh", "月"), concept("zh", "明月"), 0.83, "cilin"),
        Edge("Synonym", concept("zh", "月亮"), concept("zh", "月"), 1.09, "cilin"),  # keyword at the end
        Edge("Synonym", concept("zh", "月"), concept("zh", "月份"), 1.05, "cilin"),
        Edge("RelatedTo", concept("zh", "月"), concept("zh", "星"), 0.30, "cilin"),
        Edge("Synonym", concept("zh", "月"), concept("en", "moon"), 0.9, "cedict"),  # other language
        Edge("RelatedTo", concept("zh", "梅"), concept("zh", "花"), 0.5, "cilin"),  # not touching 月
        Edge("IsA", concept("en", "moon"), concept("en", "satellite"), 0.8, "wordnet"),
    ]
    path = tmp_path / "related.tsv.gz"
    assert write_dump(edges, path) == len(edges)
    with gzip.open(path, "rt", encoding="utf-8") as f:
        assert len(f.read().splitlines()) == len(edges)
    assert _load(path, tmp_path) == len(edges)
    assert _ranked("月") == [("月亮", 1.09), ("月份", 1.05), ("明月", 0.83), ("星", 0.30)]
    assert _ranked("moon", "en") == [("satellite", 0.8)]
    assert _ranked("花") == [("梅", 0.5)]


def test_unpack_dump_prefix(tmp_path):
    edges = [Edge("RelatedTo", concept("zh", "山"), concept("zh", f"山{i}"), 1.0 - i / 100, "cilin") for i in range(9)]
    path = write_dump_path = tmp_path / "d.tsv.gz"
    write_dump(edges, write_dump_path)
    assert unpack_dump(path, tmp_path / "p.csv", 4) == 4
    assert len((tmp_path / "p.csv").read_text(encoding="utf-8").splitlines()) == 4


@pytest.mark.skipif(not (STARTER / "related_words.tsv.gz").is_file(), reason="starter corpus not built")
def test_shipped_dump_prefix_answers_first_keyword(tmp_path):
    keywords = [w.strip() for w in (STARTER / "keywords.txt").read_text(encoding="utf-8").splitlines()
                if w.strip() and not w.startswith("#")]  # the selection writes a '#' header naming its rule
    _load(STARTER / "related_words.tsv.gz", tmp_path, max_edges=2000)
    first = keywords[0]
    ranked = _ranked(first)
    assert len(ranked) >= 100, f"{first}: {len(ranked)} related words in the first 2000 edges"
    weights = [w for _, w in ranked]
    assert weights == sorted(weights, reverse=True) and weights[0] >= 1.0  # a Cilin synonym leads
    assert all(w != first for w, _ in ranked)
