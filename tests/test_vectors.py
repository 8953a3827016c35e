"""KeyedTable and its views: one storage and index, every format for every view, older .npz layouts, gensim files."""
from __future__ import annotations

import json

import numpy as np
import pytest

from engine.embeddings import FORMATS, EmbeddingTable
from engine.features.table import FeatureTable
from engine.lstm.wordvectors import PAD, WordVectors, load_word_vectors
from engine.vectors import KeyedTable, MissingKey
from graph.common.errors import Img2SongError

SUFFIX = {"npz": "t.npz", "word2vec": "t.txt", "word2vec-binary": "t.bin", "projector": "proj"}


def _vectors(n: int, d: int, seed: int = 0) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, d)).astype(np.float32)
    v[0, 0] = 1e-45  # a subnormal: any lossy path changes its bits
    return v


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype == np.float32 and np.array_equal(a.view(np.uint32), b.view(np.uint32))


def test_views_keep_their_names_on_one_storage():
    v = _vectors(3, 4)
    f = FeatureTable(["a", "b", "c"], v, {"backbone": "x"})
    assert f.matrix is f.vectors and f.dim == 4 and f.meta == {"backbone": "x"}
    assert np.array_equal(f["b"], v[1]) and f.get_index("c") == 2
    w = WordVectors(["x", "y"], v[:2])
    assert w.words is w.ids and w.index is w.key_to_index  # no second list or index
    assert w.words == [PAD, "x", "y"] and not w.vectors[0].any() and np.array_equal(w.vectors[1:], v[:2])
    assert PAD not in w and "x" in w and w.encode(["y", "zz", PAD, "x"]) == [2, 1]
    e = EmbeddingTable(["song:a", "kw:b"], v[:2], np.array([2, 1], np.int8))
    assert isinstance(e, KeyedTable) and e.index("kw:b") == e.get_index("kw:b") == 1


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("cls", [KeyedTable, FeatureTable, WordVectors])
def test_every_view_round_trips_every_format(tmp_path, cls, fmt):
    ids, v = ["kw:月亮 代表", "song:100%", "img:x\ty"], _vectors(3, 5, seed=1)
    meta = {"backbone": "mobilenet", "vocabulary": ["月", "b"]}
    t = cls.from_fields(ids, v, meta=meta)
    back = cls.load(t.save(tmp_path / SUFFIX[fmt], fmt))
    assert type(back) is cls and back.ids == t.ids and _same_bits(back.vectors, t.vectors)
    assert back.meta == (t.meta if fmt == "npz" else {})  # only npz has room for the metadata
    assert sorted(p.name for p in tmp_path.iterdir()) == [SUFFIX[fmt]]  # atomic: no temp files left


def test_sub_tables_keep_class_and_metadata():
    f = FeatureTable(["a", "b", "c"], _vectors(3, 2), {"kind": "tags"})
    s = f.subset(["c", "zz", "a"])
    assert type(s) is FeatureTable and s.ids == ["c", "a"] and s.meta == {"kind": "tags"}
    assert np.array_equal(s.matrix, f.matrix[[2, 0]])
    s.meta["kind"] = "changed"
    assert f.meta == {"kind": "tags"}  # a copy, not the parent's dict
    n = f.normalized()
    assert type(n) is FeatureTable and np.allclose(np.linalg.norm(n.matrix, axis=1), 1.0, atol=1e-6)
    assert f.subset([]).matrix.shape == (0, 2)


def test_a_missing_key_is_a_key_error_and_a_clean_error():
    f = FeatureTable(["a"], np.ones((1, 2)))
    with pytest.raises(KeyError):
        f["zz"]
    with pytest.raises(Img2SongError) as e:
        f["zz"]
    assert str(e.value) == "image id 'zz' not in the feature table"  # not quoted like a bare KeyError
    with pytest.raises(MissingKey, match=r"lacks 2 of 3 image ids asked for, e\.g\. \['x', 'y'\]"):
        f.rows(["x", "a", "y"])
    assert f.rows(["a", "a"]).tolist() == [0, 0]
    with pytest.raises(Img2SongError, match="feature table: duplicate image id 'a'"):
        FeatureTable(["a", "a"], np.zeros((2, 1)))
    with pytest.raises(Img2SongError, match="word-vector file not found"):
        load_word_vectors("/nonexistent/vectors.txt")


def test_files_written_before_the_one_table_still_load(tmp_path):
    ids, v = ["a", "b"], _vectors(2, 3)
    old_f = tmp_path / "features.npz"  # FeatureTable's layout until now
    np.savez_compressed(old_f, ids=np.array(ids), matrix=v, meta=np.array(json.dumps({"backbone": "x"})))
    f = FeatureTable.load(old_f)
    assert f.ids == ids and _same_bits(f.matrix, v) and f.meta == {"backbone": "x"}
    old_w = tmp_path / "word_vectors.npz"  # WordVectors' layout until now (pad row included)
    np.savez_compressed(old_w, words=np.array([PAD, *ids]), vectors=np.vstack([np.zeros((1, 3), np.float32), v]),
                        source=np.array("line: 2 words"))
    w = WordVectors.load_npz(old_w)
    assert w.words == [PAD, *ids] and _same_bits(w.vectors[1:], v) and w.source == "line: 2 words"
    other = tmp_path / "other.npz"
    np.savez(other, x=np.zeros(2))
    with pytest.raises(Img2SongError, match="not an img2song embedding file"):
        FeatureTable.load(other)


@pytest.mark.parametrize("binary", [False, True])
def test_word_vectors_from_a_gensim_file_through_the_one_reader(tmp_path, binary):
    from gensim.models import KeyedVectors

    v = _vectors(3, 4, seed=2)
    kv = KeyedVectors(vector_size=4)
    kv.add_vectors(["moon", "月亮", "rain"], v)
    path = tmp_path / ("g.bin" if binary else "g.txt")
    kv.save_word2vec_format(str(path), binary=binary)
    w = load_word_vectors(path)
    assert w.words == [PAD, "moon", "月亮", "rain"] and w.source == str(path)
    assert _same_bits(w["月亮"], v[1]) and w.encode(["rain", "sun", "moon"]) == [3, 1]
