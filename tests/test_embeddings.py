"""EmbeddingTable: exact round-trips of every format, gensim interoperability, selection, kNN, malformed files."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.embeddings import FORMATS, EmbeddingTable, escape_key, unescape_key
from evaluation.app.cli import main as cli_main
from graph.common.errors import Img2SongError
from graph.network import Kind

IDS = ["song:Hello World", "song:月亮代表 我的心", "kw:爱", "img:photo 1.jpg", "kw:100%", "song:tab\there",
       "song:new\nline", "kw:\u3000全角", "song:%20literal", "img:\\back", "other"]
KINDS = [2, 2, 1, 0, 1, 2, 2, 1, 2, 0, 3]
LABELS = ["Hello World", "月亮代表我的心", "爱", "a\tb", "100%", "x\ny", "back\\slash\\t", "", "lit", "r\rr", "o"]


def make_table(d: int = 7, seed: int = 0) -> EmbeddingTable:
    rng = np.random.default_rng(seed)
    v = rng.standard_normal((len(IDS), d)).astype(np.float32) * np.float32(3.3)
    v[0, 0], v[1, 1 % d], v[2, 0], v[3, 1 % d] = 1e-45, -3.4e38, 1.17549435e-38, 0.1  # subnormal, huge, tiny, inexact
    return EmbeddingTable(IDS, v, np.array(KINDS, np.int8), LABELS)


SUFFIX = {"npz": "e.npz", "word2vec": "e.txt", "word2vec-binary": "e.bin", "projector": "proj"}


@pytest.mark.parametrize("fmt", FORMATS)
def test_round_trip_is_exact(tmp_path, fmt):
    t = make_table()
    path = t.save(tmp_path / SUFFIX[fmt], fmt)
    for back in (EmbeddingTable.load(path, fmt), EmbeddingTable.load(path)):  # explicit and inferred format
        assert back.ids == IDS
        assert back.vectors.dtype == np.float32
        assert np.array_equal(back.vectors.view(np.uint32), t.vectors.view(np.uint32))  # bit-identical
        assert back.kinds.tolist() == KINDS  # word2vec: inferred from the id prefixes
        assert back.labels == (None if fmt.startswith("word2vec") else LABELS)
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp files left behind


def test_npz_and_projector_keep_missing_kinds_and_labels(tmp_path):
    t = EmbeddingTable(["a b", "c"], np.ones((2, 3), np.float32))
    for fmt in ("npz", "projector"):
        back = EmbeddingTable.load(t.save(tmp_path / SUFFIX[fmt], fmt))
        assert back.kinds is None and back.labels is None and back.ids == ["a b", "c"]


@pytest.mark.parametrize("binary", [False, True])
def test_gensim_reads_our_word2vec_files_with_identical_vectors(tmp_path, binary):
    from gensim.models import KeyedVectors

    t = make_table(d=5)
    path = t.save(tmp_path / ("e.bin" if binary else "e.txt"), "word2vec-binary" if binary else "word2vec")
    kv = KeyedVectors.load_word2vec_format(str(path), binary=binary)
    assert kv.index_to_key == [escape_key(v) for v in IDS]
    assert [unescape_key(k) for k in kv.index_to_key] == IDS
    assert np.array_equal(kv.vectors.view(np.uint32), t.vectors.view(np.uint32))


@pytest.mark.parametrize("binary", [False, True])
def test_we_read_gensim_written_word2vec_files(tmp_path, binary):
    from gensim.models import KeyedVectors

    t = make_table(d=4, seed=3)
    kv = KeyedVectors(vector_size=4)
    kv.add_vectors([escape_key(v) for v in IDS], t.vectors)
    path = tmp_path / ("g.bin" if binary else "g.txt")
    kv.save_word2vec_format(str(path), binary=binary)  # gensim's binary has no newline after each vector
    back = EmbeddingTable.load(path)
    assert back.ids == IDS and np.array_equal(back.vectors, t.vectors)


@settings(max_examples=300, deadline=None)
@given(st.text(min_size=1, max_size=30))
def test_escape_key_is_reversible_and_whitespace_free(s):
    k = escape_key(s)
    assert unescape_key(k) == s
    assert not any(c.isspace() for c in k) and k.split() == [k]


def test_escape_key_examples():
    assert escape_key("song:a b") == "song:a%20b"
    assert escape_key("kw:爱") == "kw:爱"  # Chinese stays readable
    assert escape_key("50%") == "50%25"
    assert escape_key("a\u3000b") == "a%E3%80%80b"
    with pytest.raises(Img2SongError):
        escape_key("")


def test_lookup_and_select_by_kind():
    t = make_table()
    assert len(t) == len(IDS) and t.dim == 7 and "kw:爱" in t and "kw:nope" not in t
    assert np.array_equal(t["img:photo 1.jpg"], t.vectors[3]) and t.index("kw:爱") == 2
    with pytest.raises(KeyError):
        t["kw:nope"]
    songs = t.select("song")
    assert songs.ids == [v for v, k in zip(IDS, KINDS) if k == 2]
    assert np.array_equal(songs["song:tab\there"], t["song:tab\there"])
    assert songs.labels == [lab for lab, k in zip(LABELS, KINDS) if k == 2]
    both = t.select([Kind.IMAGE, "keyword"])
    assert both.ids == [v for v, k in zip(IDS, KINDS) if k in (0, 1)]
    assert set(both.kinds.tolist()) == {0, 1}
    with pytest.raises(Img2SongError, match="unknown vertex kind"):
        t.select("album")
    with pytest.raises(Img2SongError, match="no vertex kinds"):
        EmbeddingTable(["a"], np.zeros((1, 2))).select("song")


def test_table_validation():
    with pytest.raises(Img2SongError, match="duplicate vertex id 'a'"):
        EmbeddingTable(["a", "b", "a"], np.zeros((3, 2)))
    with pytest.raises(Img2SongError, match="2 ids but vectors of shape"):
        EmbeddingTable(["a", "b"], np.zeros((3, 2)))


def test_normalized_and_nearest_match_brute_force():
    t = make_table(d=6, seed=1)
    t.vectors[3] = 0.0  # zero row stays zero
    n = t.normalized()
    norms = np.linalg.norm(n.vectors, axis=1)
    assert np.allclose(np.delete(norms, 3), 1.0, atol=1e-6) and norms[3] == 0.0
    q = np.random.default_rng(2).standard_normal((3, 6)).astype(np.float32)
    ids, dist = t.nearest(q, k=4)
    ref = np.linalg.norm(q[:, None, :].astype(np.float64) - t.vectors[None].astype(np.float64), axis=2)
    for i in range(3):
        order = np.argsort(ref[i], kind="stable")[:4]
        assert ids[i] == [IDS[j] for j in order] and np.allclose(dist[i], ref[i][order], rtol=1e-6)
    ids, dist = t.nearest(q, k=2, metric="cosine", kind="song")
    songs = t.select("song")
    cos = (q / np.linalg.norm(q, axis=1, keepdims=True)) @ songs.normalized().vectors.T
    for i in range(3):
        top = np.argsort(-cos[i], kind="stable")[:2]
        assert ids[i] == [songs.ids[j] for j in top] and np.allclose(1 - dist[i], cos[i][top], atol=1e-6)


def _write(path, text: str | bytes):
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


@pytest.mark.parametrize("text, where, what", [
    ("3\nkw:a 1 2 3\n", ":1:", "header must be 'N d'"),
    ("2 3\nkw:a 1 2 3\nkw:b 1 2\n", ":3:", "expected a key and 3 numbers, got 2"),
    ("2 3\nkw:a 1 2 3\nkw:b 1 x 3\n", ":3:", "value 2 is not a number: 'x'"),
    ("2 3\nkw:a 1 2 nan\nkw:b 1 2 3\n", ":2:", "value 3 is not a number: 'nan'"),
    ("3 3\nkw:a 1 2 3\nkw:b 1 2 3\n", "", "header promises 3 vectors, file has 2"),
    ("1 3\nkw:a 1 2 3\nkw:b 1 2 3\n", ":3:", "more vectors than the header's count 1"),
    ("2 1\nkw:a 1\nkw:a 2\n", "", "vector 2: duplicate key 'kw:a'"),
])
def test_malformed_word2vec_text_names_file_and_line(tmp_path, text, where, what):
    path = _write(tmp_path / "bad.txt", text)
    with pytest.raises(Img2SongError) as e:
        EmbeddingTable.load(path)
    assert f"{path}{where}" in str(e.value) and what in str(e.value)


def test_malformed_word2vec_binary_names_file_and_record(tmp_path):
    good = make_table(d=3).save(tmp_path / "good.bin")
    data = good.read_bytes()
    truncated = _write(tmp_path / "trunc.bin", data[:-9])
    with pytest.raises(Img2SongError, match=rf"trunc\.bin: vector {len(IDS)} \(byte \d+\): file ends early"):
        EmbeddingTable.load(truncated)
    wrong_dim = _write(tmp_path / "dim.bin", data.replace(f"{len(IDS)} 3\n".encode(), f"{len(IDS)} 2\n".encode(), 1))
    with pytest.raises(Img2SongError, match=r"dim\.bin: vector \d+ \(byte \d+\)"):
        EmbeddingTable.load(wrong_dim)
    with pytest.raises(Img2SongError, match=r"hdr\.bin:1: header"):
        EmbeddingTable.load(_write(tmp_path / "hdr.bin", b"x y\n"))


def test_malformed_projector_names_file_and_line(tmp_path):
    proj = make_table(d=2).save(tmp_path / "p", "projector")
    lines = (proj / "tensors.tsv").read_text().splitlines()
    lines[4] = "0.5\tabc"
    (proj / "tensors.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(Img2SongError, match=r"tensors\.tsv:5: value 2 is not a number: 'abc'"):
        EmbeddingTable.load(proj)
    proj = make_table(d=2).save(tmp_path / "p", "projector")  # overwrites the damaged export
    meta = (proj / "metadata.tsv").read_text().splitlines()
    meta[2] = "kw:x\tplanet\tlabel"
    (proj / "metadata.tsv").write_text("\n".join(meta) + "\n")
    with pytest.raises(Img2SongError, match=r"metadata\.tsv:3: field 'kind' is not a vertex kind: 'planet'"):
        EmbeddingTable.load(proj)


def test_projector_write_is_atomic_and_refuses_foreign_directories(tmp_path):
    t = make_table(d=2)
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(Img2SongError, match="not a projector export"):
        t.save(tmp_path / "mine", "projector")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    p = t.save(tmp_path / "proj", "projector")
    t.select("song").save(p, "projector")  # replace an existing export
    assert EmbeddingTable.load(p).ids == t.select("song").ids
    assert sorted(x.name for x in tmp_path.iterdir()) == ["mine", "proj"]
    assert (p / "metadata.tsv").read_text(encoding="utf-8").splitlines()[0] == "id\tkind\tlabel"
    assert 'metadata_path: "metadata.tsv"' in (p / "projector_config.pbtxt").read_text()


def test_unknown_format_and_suffix(tmp_path):
    with pytest.raises(Img2SongError, match="cannot tell the embedding format"):
        make_table().save(tmp_path / "e.csv")
    with pytest.raises(Img2SongError, match="unknown embedding format 'glove'"):
        make_table().save(tmp_path / "e.txt", "glove")
    with pytest.raises(Img2SongError, match="embedding file not found"):
        EmbeddingTable.load(tmp_path / "missing.npz")


def test_export_command_converts_and_selects(tmp_path, capsys):
    src = make_table(d=3).save(tmp_path / "e.npz")
    out = tmp_path / "songs.bin"
    rc = cli_main(["export", "--embeddings", str(src), "--format", "word2vec-binary", "--kind", "song",
                   "--out", str(out)])
    assert rc == 0
    assert f"wrote 5 vectors (dim 3) as word2vec-binary to {out}" in capsys.readouterr().out
    back = EmbeddingTable.load(out)
    assert back.ids == [v for v, k in zip(IDS, KINDS) if k == 2]
    assert np.array_equal(back.vectors, make_table(d=3).select("song").vectors)
    rc = cli_main(["export", "--embeddings", str(src), "--format", "glove", "--out", str(tmp_path / "x")])
    assert rc == 2 and "--format must be one of" in capsys.readouterr().err


def test_foreign_keys_with_stray_percent_signs_are_kept(tmp_path):
    path = _write(tmp_path / "foreign.vec", "3 1\n100%zz 1\n%E4 2\n50%25 3\n")  # the last one decodes
    assert EmbeddingTable.load(path).ids == ["100%zz", "%E4", "50%"]
