"""Regression tests for the second hostile-input pass (issue 22), named by its case numbers.

Service cases run against a real server subprocess on loopback (tests/test_serve.py's `served` run and launcher).
"""
from __future__ import annotations

import re
import socket

import pytest

from evaluation.app.cli import main
from evaluation.bench.client import Client, free_port
from evaluation.bench.serve import bench_serve
from graph.common.errors import Img2SongError
from tests.test_serve import served  # noqa: F401  (the module-scoped server fixture)


def _errors_counted(client: Client, kind: str) -> float:
    text = client.get("/metrics").body.decode()
    line = next((x for x in text.splitlines() if x.startswith(f'img2song_errors_total{{kind="{kind}"}}')), None)
    return float(line.split()[-1]) if line else 0.0


@pytest.mark.parametrize("method, path, status, kind", [
    ("GET", "/no/such/route", 404, "not_found"),
    ("GET", "/recommend", 405, "method_not_allowed"),
    ("DELETE", "/healthz", 405, "method_not_allowed"),
])
def test_case15_routing_errors_answer_json_error_and_are_counted(served, method, path, status, kind):  # noqa: F811
    _, client, _ = served
    before = _errors_counted(client, kind)
    r = client.request(method, path)
    assert r.status == status, r.body
    doc = r.json()
    assert doc["error"] == kind and doc["detail"]
    assert _errors_counted(client, kind) == before + 1


def test_case15_malformed_multipart_is_a_counted_json_400(served):  # noqa: F811
    _, client, _ = served
    before = _errors_counted(client, "bad_request")
    body = b"--xyz\r\nContent-Disposition: form-data; name=\"image\"; filename=\"a.png\"\r\n\r\nabc\r\n--xyz--\r\n"
    r = client.request("POST", "/recommend", body, {"Content-Type": "multipart/form-data"})  # no boundary
    assert r.status == 400, r.body
    doc = r.json()
    assert doc["error"] == "bad_request" and "boundary" in doc["detail"].lower()
    assert _errors_counted(client, "bad_request") == before + 1


def test_case17_song_ids_with_a_slash_reach_the_song_route(served):  # noqa: F811
    _, client, _ = served
    r = client.get("/songs/some/nested/id")
    assert r.status == 404, r.body
    doc = r.json()
    assert doc["error"] == "unknown_song" and "some/nested/id" in doc["detail"]  # the route, not a routing 404
    known = client.get("/healthz").json()
    assert known  # the server still answers


@pytest.mark.parametrize("option, value", [
    ("--port", "99999"), ("--port", "0"), ("--max-k", "0"), ("--workers", "0"), ("--torch-threads", "0"),
    ("--log-level", "bogus"), ("--queue", "-1"), ("--deadline", "0"), ("--max-upload-mb", "0"), ("--max-pixels", "0"),
])
def test_case09_case14_serve_option_values_are_checked_before_anything_loads(capsys, tmp_path, option, value):
    code = main(["serve", "--run", str(tmp_path / "no-such-run"), option, value])
    err = capsys.readouterr().err
    assert code == 2, err
    assert option in err and "Traceback" not in err


def test_case12_bench_serve_against_a_dead_url_is_one_clear_error(served, capsys):  # noqa: F811
    run, _, _ = served
    port = free_port()
    with socket.socket() as s:  # nothing listens there (the port was free a moment ago and is not bound now)
        assert s.connect_ex(("127.0.0.1", port)) != 0
    with pytest.raises(Img2SongError, match=f"127.0.0.1:{port}: no server answers there"):
        bench_serve(run, url=f"http://127.0.0.1:{port}", requests=3, seconds=1, cli_runs=0, echo=lambda _: None)
    code = main(["bench", "serve", "--run", str(run), "--url", f"http://127.0.0.1:{port}", "--cli-runs", "0",
                 "--requests", "3"])
    err = capsys.readouterr().err
    assert code == 2 and "no server answers there" in err and "Traceback" not in err


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke showpage\n%%EOF\n"


def test_case02_postscript_upload_never_reaches_ghostscript(tmp_path, monkeypatch):
    """A stand-in `gs` first on PATH records any call; an EPS upload is refused as not_an_image without it."""
    from engine.features.photo import PhotoError, decode_photo

    marker = tmp_path / "gs-was-run"
    gs = tmp_path / "bin" / "gs"
    gs.parent.mkdir()
    gs.write_text(f"#!/bin/sh\ntouch {marker}\nexit 1\n")
    gs.chmod(0o755)
    monkeypatch.setenv("PATH", f"{gs.parent}:{__import__('os').environ['PATH']}")
    with pytest.raises(PhotoError) as e:
        decode_photo(EPS, name="evil.eps")
    assert e.value.kind == "not_an_image" and "evil.eps" in str(e.value)
    assert not marker.exists()


def test_case02_postscript_corpus_image_is_refused_by_the_corpus_reader(tmp_path):
    from graph.common.errors import CorpusError
    from graph.corpus_files import probe_image

    p = tmp_path / "a.png"
    p.write_bytes(EPS)
    with pytest.raises(CorpusError, match="images.jsonl.*supported format"):
        probe_image(p, "images.jsonl", 3)


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_case20_outputs_follow_the_umask(tmp_path, umask):
    import os

    from graph.common.atomic import atomic_dir, atomic_path

    old = os.umask(umask)
    try:
        with atomic_path(tmp_path / "out.json") as tmp:
            tmp.write_text("{}")
        with atomic_dir(tmp_path / "outdir") as d:
            (d / "x").write_text("1")
    finally:
        os.umask(old)
    assert (tmp_path / "out.json").stat().st_mode & 0o777 == 0o666 & ~umask
    assert (tmp_path / "outdir").stat().st_mode & 0o777 == 0o777 & ~umask


def test_case03_nan_in_an_experiment_file_is_refused_naming_the_key(tmp_path):
    from evaluation.measure.experiment import load_experiment

    f = tmp_path / "exp.toml"
    f.write_text("k = 10\n[scorers.ne]\n[scorers.km]\nmin_tag_mass = nan\n")
    with pytest.raises(Img2SongError, match=r"exp.toml: key 'scorers.km.min_tag_mass' is nan"):
        load_experiment(f)
    f.write_text("ns = [0, inf]\n")
    with pytest.raises(Img2SongError, match=r"key 'ns\[1\]' is inf"):
        load_experiment(f)


def test_case06_build_graph_refuses_an_out_inside_the_corpus(capsys, tmp_path):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "songs.jsonl").write_text("")
    before = sorted(p.name for p in corpus.iterdir())
    for out in (corpus, corpus / "run"):
        code = main(["build-graph", "--corpus", str(corpus), "--out", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and "inside the corpus" in err, err
    assert sorted(p.name for p in corpus.iterdir()) == before  # nothing written into it


def test_case14_pop_pool_must_be_positive(tmp_path):
    from engine.scorers.base import Query
    from engine.scorers.pop import POPScorer
    from tests.scorer_contract import tiny_training_set

    data = tiny_training_set(tmp_path)
    for pool in (0, -3, 2.5, True):
        with pytest.raises(Img2SongError, match="'pool' must be an integer >= 1"):
            POPScorer(pool=pool).fit(data)
    assert len(POPScorer(pool=1).fit(data).recommend(Query(), k=3)) == 1  # a pool of one answers one song


def test_case14_related_n_must_be_positive(capsys):
    code = main(["related", "月", "--n", "-1"])
    err = capsys.readouterr().err
    assert code == 2 and "--n" in err


def _mini_corpus(root, songs: list[str], images: list[str] | None = None):
    import json

    (root / "images").mkdir(parents=True)
    from PIL import Image as PILImage

    PILImage.new("RGB", (8, 8)).save(root / "images" / "a.png")
    (root / "songs.jsonl").write_text("".join(s + "\n" for s in songs), encoding="utf-8")
    rows = images if images is not None else [json.dumps({"id": "img1", "file": "images/a.png", "tags": ["moon"]})]
    (root / "images.jsonl").write_text("".join(r + "\n" for r in rows), encoding="utf-8")
    return root


@pytest.mark.parametrize("raw_id, message", [
    ('"s1\\u0000"', "control character U+0000"), ('"s\\nx"', "control character U+000A"),
    ('"s\\ud800"', "lone surrogate"),
])
def test_case05_ids_with_nul_newline_or_lone_surrogate_name_file_line_field(tmp_path, raw_id, message):
    from graph.common.errors import CorpusError
    from graph.corpus import load_corpus

    root = _mini_corpus(tmp_path / "c", ['{"id": "ok", "title": "t", "lyrics": "月光", "language": "zh"}',
                                         '{"id": ' + raw_id + ', "title": "t", "lyrics": "月", "language": "zh"}'])
    with pytest.raises(CorpusError, match=rf"songs.jsonl:2: field 'id' .*{re.escape(message)}"):
        load_corpus(root)


def test_case05_lone_surrogate_in_a_tag_names_the_field(tmp_path):
    from graph.common.errors import CorpusError
    from graph.corpus import load_corpus

    root = _mini_corpus(tmp_path / "c", ['{"id": "ok", "title": "t", "lyrics": "月光", "language": "zh"}'],
                        ['{"id": "i1", "file": "images/a.png", "tags": ["moon", "x\\udfff"]}'])
    with pytest.raises(CorpusError, match=r"images.jsonl:1: field 'tags' .*lone surrogate"):
        load_corpus(root)


def test_case21_comments_only_keywords_file_and_fifo_say_what_they_are(tmp_path):
    import os

    from graph.common.errors import CorpusError
    from graph.corpus import load_corpus

    root = _mini_corpus(tmp_path / "c", ['{"id": "ok", "title": "t", "lyrics": "月光", "language": "zh"}'])
    (root / "keywords.txt").write_text("# only a comment\n\n")
    with pytest.raises(CorpusError, match=r"keywords.txt.*lists no keywords"):
        load_corpus(root)
    (root / "keywords.txt").unlink()
    (root / "songs.jsonl").unlink()
    os.mkfifo(root / "songs.jsonl")
    with pytest.raises(CorpusError, match=r"songs.jsonl.*is not a regular file"):
        load_corpus(root)


def test_case07_corpus_text_has_size_limits(tmp_path):
    import json

    from graph.common.errors import CorpusError
    from graph.corpus import MAX_KEYWORD_CHARS, MAX_KEYWORDS, MAX_LYRICS_CHARS, load_corpus

    ok = '{"id": "ok", "title": "t", "lyrics": "月光", "language": "zh"}'
    huge = json.dumps({"id": "big", "title": "t", "lyrics": "月" * (MAX_LYRICS_CHARS + 1), "language": "zh"})
    root = _mini_corpus(tmp_path / "c", [ok, huge])
    c = load_corpus(root)
    assert [s.id for s in c.songs] == ["ok"] and c.report.skipped  # counted, not silently dropped
    assert any("over" in reason for reason in c.report.skipped)
    (root / "keywords.txt").write_text("月\n" + "长" * (MAX_KEYWORD_CHARS + 1) + "\n")
    with pytest.raises(CorpusError, match=r"keywords.txt:2: .*over the limit of 64"):
        load_corpus(root)
    (root / "keywords.txt").write_text("".join(f"w{i}\n" for i in range(MAX_KEYWORDS + 1)))
    with pytest.raises(CorpusError, match=rf"keywords.txt:{MAX_KEYWORDS + 1}: more than {MAX_KEYWORDS} keywords"):
        load_corpus(root)
    (root / "keywords.txt").unlink()
    (root / "songs.jsonl").write_text(json.dumps({"id": "x" * 5000, "title": "t", "lyrics": "月", "language": "zh"}))
    with pytest.raises(CorpusError, match=r"songs.jsonl:1: field 'id' is 5000 characters long"):
        load_corpus(root)


@pytest.mark.parametrize("option, value, message", [
    ("--negative", "1000000000", "'negative' must be an integer in 0..1000"),
    ("--dim", "100000000", "'dim' must be an integer in 1..4096"),
])
def test_case09_train_option_values_are_refused_before_training(capsys, tmp_path, option, value, message):
    edges = tmp_path / "g.txt"
    edges.write_text("a b 1\nb c 1\nc a 1\n")
    code = main(["train", "--edgelist", str(edges), "--out", str(tmp_path / "out"), option, value])
    err = capsys.readouterr().err
    assert code == 2 and message in err, err
    assert not (tmp_path / "out" / "embeddings.npz").exists()
