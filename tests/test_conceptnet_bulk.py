"""The bulk loader writes exactly the DB conceptnet-lite's own loader writes, and conceptnet-lite reads it alike."""
from __future__ import annotations

import contextlib
import io
import sqlite3

import numpy as np

from evaluation.measure.conceptnet_bulk import load_dump_bulk, load_rows_bulk
from graph.related import Edge, edge_fields, write_dump

TABLES = ("relation", "language", "label", "concept", "edge")


def _edges(n_edges=400, seed=0):
    """Several languages, senses, shared labels across languages, external URLs."""
    rng = np.random.default_rng(seed)
    words = ["月", "花", "moon", "flower", "snow", "雪", "light", "光", "rain", "雨"]
    langs = ["zh", "en", "fr"]
    rels = ["Synonym", "RelatedTo", "IsA", "SimilarTo", "ExternalURL"]
    edges = []
    for _ in range(n_edges):
        rel = str(rng.choice(rels))
        start = f"/c/{rng.choice(langs)}/{rng.choice(words)}" + ("/n" if rng.random() < 0.2 else "")
        end = (f"http://example.org/{rng.choice(words)}" if rel == "ExternalURL"
               else f"/c/{rng.choice(langs)}/{rng.choice(words)}" + ("/v/wn/x" if rng.random() < 0.1 else ""))
        edges.append(Edge(rel, start, end, float(rng.uniform(0.1, 3)), str(rng.choice(["cilin", "wordnet"]))))
    return edges


def _dump(path, n_edges=400, seed=0):
    """A small ConceptNet-format dump of `_edges`."""
    return write_dump(_edges(n_edges, seed), path)


def _table_rows(db):
    con = sqlite3.connect(db)
    try:
        schema = sorted(con.execute("select type, name, sql from sqlite_master where name not like 'sqlite_%'"))
        return schema, {t: con.execute(f"select * from {t} order by id").fetchall() for t in TABLES}
    finally:
        con.close()


def _answers(db):
    """What a conceptnet-lite user sees: every label's edges out, by relation, with end URIs and weights."""
    import conceptnet_lite
    from conceptnet_lite import Label, edges_for

    conceptnet_lite.connect(str(db))
    out = {}
    for label in Label.select().order_by(Label.id):
        for e in edges_for(label.concepts, same_language=False):
            out.setdefault(str(label), []).append((e.relation.name, e.start.uri, e.end.uri, e.etc["weight"]))
    conceptnet_lite.db.db.close()
    return out


def test_bulk_db_equals_conceptnet_lite_loader(tmp_path):
    import conceptnet_lite.db as cdb

    dump = tmp_path / "dump.tsv"
    n = _dump(dump)
    ours = tmp_path / "bulk.db"
    assert load_dump_bulk(dump, ours) == n
    theirs = tmp_path / "cnl.db"
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        cdb.load_dump_to_db(dump, theirs, edge_count=n, delete_dump=False)
    cdb.db.close()
    schema_a, rows_a = _table_rows(ours)
    schema_b, rows_b = _table_rows(theirs)
    assert schema_a == schema_b
    for t in TABLES:
        assert rows_a[t] == rows_b[t], t
    assert len(rows_a["edge"]) == n and len(rows_a["language"]) == 3
    assert any(r[2] == "url" for r in rows_a["concept"]) and any(r[2] == "n" for r in rows_a["concept"])
    answers = _answers(ours)
    assert answers == _answers(theirs) and sum(map(len, answers.values())) >= n // 2


def test_bulk_loader_never_overwrites(tmp_path):
    import pytest

    from graph.common.errors import Img2SongError

    dump = tmp_path / "dump.tsv"
    _dump(dump, 5)
    (tmp_path / "x.db").write_text("user data")
    with pytest.raises(Img2SongError, match="existing"):
        load_dump_bulk(dump, tmp_path / "x.db")
    assert (tmp_path / "x.db").read_text() == "user data"


def test_rows_straight_from_edges_equal_the_dump_round_trip(tmp_path):
    """The thesauri build feeds edge fields to the loader without writing a dump: the same DB as through the dump."""
    edges = _edges(600, seed=3)
    write_dump(edges, tmp_path / "dump.tsv")
    assert load_dump_bulk(tmp_path / "dump.tsv", tmp_path / "via_dump.db") == 600
    assert load_rows_bulk(map(edge_fields, edges), tmp_path / "direct.db") == 600
    assert _table_rows(tmp_path / "direct.db") == _table_rows(tmp_path / "via_dump.db")


def test_csv_safe_names_the_concepts_a_dump_line_would_not_give_back():
    from evaluation.measure.thesauri import csv_safe

    ok = _edges(50)
    assert csv_safe(ok)
    for bad in ("/c/en/a\rb", "/c/en/a\0b", '"quoted'):
        assert not csv_safe([*ok, Edge("RelatedTo", "/c/en/x", bad, 1.0, "wordnet")])
        assert not csv_safe([Edge("RelatedTo", bad, "/c/en/x", 1.0, "wordnet"), *ok])
