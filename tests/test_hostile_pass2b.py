"""Regression tests for issue 22's second hostile pass, cases the first batch (test_hostile_pass2.py) left:
a corpus edited after build-graph (4), a killed evaluate's mixed outputs (18), symlink loops and a full disk at the
faiss index (11), a stalled client at shutdown and idle connections (10, 19)."""
from __future__ import annotations

import json
import os

import pytest

from evaluation.app.cli import main
from evaluation.stages.rundir import RunDir, Stage
from graph.common.errors import Img2SongError
from tests.conftest import make_corpus, own_cache


@pytest.fixture
def built(tmp_path):
    """A tiny corpus and a run built from it (graph only)."""
    corpus = make_corpus(tmp_path / "corpus")
    run = tmp_path / "run"
    assert main(["build-graph", "--corpus", str(corpus), "--out", str(run), "--holdout", "0.2"]) == 0
    return corpus, run


def test_case04_run_records_a_content_fingerprint_and_an_unchanged_corpus_passes(built):
    corpus, run = built
    doc = json.loads((run / "run.json").read_text(encoding="utf-8"))
    fp = doc["corpus_fingerprint"]
    assert set(fp) >= {"songs.jsonl", "images.jsonl"} and all(len(fp[n]) == 64 for n in ("songs.jsonl", "images.jsonl"))
    os.utime(corpus / "songs.jsonl", ns=(1, 1))  # touched, same content: by content, not mtime
    assert RunDir(run).corpus_path() == corpus.resolve()


@pytest.mark.parametrize("name, edit", [
    ("songs.jsonl", lambda p: p.write_text("".join(p.read_text(encoding="utf-8").splitlines(True)[1:]),
                                           encoding="utf-8")),  # a song deleted
    ("images.jsonl", lambda p: p.write_text(p.read_text(encoding="utf-8").replace("moon", "mooon"),
                                            encoding="utf-8")),  # a tag edited, same line count
    ("songs.jsonl", lambda p: p.unlink()),
])
def test_case04_corpus_edited_after_build_graph_is_refused_naming_the_file(built, capsys, name, edit):
    corpus, run = built
    st = (corpus / name).stat()
    edit(corpus / name)
    if (corpus / name).exists():
        os.utime(corpus / name, ns=(st.st_atime_ns, st.st_mtime_ns))  # same mtime: caught by content
    with pytest.raises(Img2SongError, match=f"{name}: .*since build-graph.*rebuild"):
        RunDir(run).corpus_path()
    capsys.readouterr()
    code = main(["recommend", "--run", str(run), "--scorer", "pop", str(corpus / "images" / "i1.png")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert str(corpus / name) in err and "build-graph" in err and "Traceback" not in err
    assert not (run / "scorers" / "pop").exists()  # refused before any scorer was fitted on the stale corpus


def test_case04_runs_built_before_the_fingerprint_still_load(built):
    corpus, run = built
    doc = json.loads((run / "run.json").read_text(encoding="utf-8"))
    doc.pop("corpus_fingerprint", None)  # as run.json was written before this check existed
    (run / "run.json").write_text(json.dumps(doc), encoding="utf-8")
    assert RunDir(run).corpus_path() == corpus.resolve()


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory):
    """A tiny real run (tests/scorer_contract.make_run), evaluated once with KM and POP."""
    from evaluation.stages.protocol import evaluate_run
    from tests.scorer_contract import make_run

    root = tmp_path_factory.mktemp("eval")
    run = make_run(root)
    evaluate_run(run, scorers=("km", "pop"), cache_dir=root / "cn", k=3, n_boot=20, progress=False)
    return run


def _ids(path) -> set:
    return {json.loads(line).get("evaluation_id") for line in path.read_text(encoding="utf-8").splitlines()}


def test_case18_evaluate_stamps_one_evaluation_id_into_all_its_outputs(evaluated):
    eid = json.loads((evaluated / "report.json").read_text(encoding="utf-8"))["evaluation_id"]
    assert eid and _ids(evaluated / "per_query.jsonl") == {eid} == _ids(evaluated / "recommendations.jsonl")
    stage = RunDir(evaluated).stage(Stage.EVALUATE)
    assert stage["outputs"]["evaluation_id"] == eid and not stage.get("incomplete")
    assert main(["report", "--run", str(evaluated)]) == 0


def test_case18_killed_evaluate_is_refused_by_report_not_rendered_as_a_mix(evaluated, tmp_path, monkeypatch, capsys):
    import shutil

    from evaluation.stages import protocol

    run = tmp_path / "run"
    shutil.copytree(evaluated, run)
    old_recs = (run / "recommendations.jsonl").read_bytes()

    def killed(*_a, **_k):  # the process dies after report.json and per_query.jsonl, before recommendations.jsonl
        raise KeyboardInterrupt

    monkeypatch.setattr(RunDir, "save_recommendations", killed)
    with pytest.raises(KeyboardInterrupt):
        protocol.evaluate_run(run, scorers=("km", "pop"), cache_dir=run.parent / "cn", k=3, n_boot=20,
                              progress=False)
    monkeypatch.undo()
    assert (run / "recommendations.jsonl").read_bytes() == old_recs  # old and new outputs side by side
    capsys.readouterr()
    code = main(["report", "--run", str(run)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "did not finish" in err and "rerun `img2song evaluate" in err and "Traceback" not in err
    # even with run.json's mark gone (copied files, an older manifest), the mix itself is named
    doc = json.loads((run / "run.json").read_text(encoding="utf-8"))
    doc["stages"].pop("evaluate")
    (run / "run.json").write_text(json.dumps(doc), encoding="utf-8")
    code = main(["report", "--run", str(run)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "different `img2song evaluate` runs" in err and "recommendations.jsonl" in err and "per_query.jsonl" in err


def _loop_corpus(tmp_path):
    corpus = make_corpus(tmp_path / "corpus")
    os.symlink("loop", corpus / "images" / "loop")  # a link to itself
    rows = [json.loads(x) for x in (corpus / "images.jsonl").read_text(encoding="utf-8").splitlines()]
    rows[0]["file"] = "images/loop"
    (corpus / "images.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows),
                                         encoding="utf-8")
    return corpus


def test_case11_symlink_loop_in_a_corpus_path_is_a_clean_error_naming_file_line_field(tmp_path, capsys):
    corpus = _loop_corpus(tmp_path)
    code = main(["build-graph", "--corpus", str(corpus), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "images.jsonl:1: field 'file'" in err and "images/loop" in err and "Symlink loop" in err
    assert "internal error" not in err and "Traceback" not in err


def test_case11_symlink_loop_as_corpus_directory_or_corpus_file(tmp_path, capsys):
    corpus = make_corpus(tmp_path / "corpus")
    os.symlink("b", tmp_path / "a")
    os.symlink("a", tmp_path / "b")
    code = main(["build-graph", "--corpus", str(tmp_path / "a"), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code in (2, 3), err  # bad input or the OS's ELOOP: one line either way
    assert str(tmp_path / "a") in err and "internal error" not in err and len(err.strip().splitlines()) == 1
    (corpus / "songs.jsonl").unlink()
    os.symlink("songs.jsonl", corpus / "songs.jsonl")
    code = main(["build-graph", "--corpus", str(corpus), "--out", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "songs.jsonl: is a symlink that leads nowhere" in err, err


@pytest.fixture
def on_a_full_disk(monkeypatch):
    """faiss writes the image index into /dev/full (ENOSPC on write, as on a full disk); other files as usual."""
    import contextlib
    from pathlib import Path

    from engine.index import image

    real = image.atomic_path

    @contextlib.contextmanager
    def full(path, *a, **k):
        if Path(path).name == image.INDEX_FILE:
            yield Path("/dev/full")
        else:
            with real(path, *a, **k) as tmp:
                yield tmp

    monkeypatch.setattr(image, "atomic_path", full)
    return image


def test_case11_full_disk_while_faiss_writes_the_index_is_an_os_error_naming_the_file(tmp_path, on_a_full_disk):
    import errno

    import numpy as np

    index = on_a_full_disk.ImageIndex(method="exact").fit(np.random.default_rng(0).random((500, 8), np.float32))
    with pytest.raises(OSError) as got:
        index.save(tmp_path / "ix")
    assert got.value.errno == errno.ENOSPC and got.value.filename == str(tmp_path / "ix" / "image_index.faiss")


def test_case11_full_disk_at_fit_scorers_exits_3_naming_the_index(tmp_path, on_a_full_disk, capsys):
    from tests.scorer_contract import make_run

    run = make_run(tmp_path)
    code = main(["fit-scorers", "--run", str(run), "--scorers", "ne"])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "image_index.faiss" in err and "No space left on device" in err and "internal error" not in err


@pytest.fixture(scope="module")
def serve_run(tmp_path_factory, dictionary_cache):
    """A tiny run with features of the test backbone and fitted scorers, ready to serve (tests/serve_main)."""
    from evaluation.stages import pipeline
    from tests.scorer_contract import make_run
    from tests.serve_main import BACKBONE

    tmp = tmp_path_factory.mktemp("guard")
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the per-test cache fixture
        mp.setenv("IMG2SONG_CACHE", str(own_cache(tmp / "cache", dictionary_cache)))
        run = make_run(tmp)
        pipeline.features(run, backbone=BACKBONE, echo=lambda _: None)
        pipeline.fit_scorers(run, ["ne", "km", "pop"], echo=lambda _: None)
        yield run, tmp


@pytest.fixture(scope="module")
def guarded(serve_run):
    """A server with a 1.5 s deadline and a 1 s idle timeout."""
    from evaluation.bench.client import start_server, stop_server

    run, tmp = serve_run
    proc, url = start_server(run, ["--deadline", "1.5", "--idle-timeout", "1"], module="tests.serve_main",
                             log=tmp / "guarded.log")
    yield url
    stop_server(proc)


def _connect(url: str, timeout: float = 8.0):
    import socket
    from urllib.parse import urlsplit

    u = urlsplit(url)
    s = socket.create_connection((u.hostname, u.port), timeout=timeout)
    return s


def _read_all(s) -> bytes:
    out = b""
    while chunk := s.recv(65536):  # b"": the server closed the connection
        out += chunk
    return out


STALLED_HEAD = (b"POST /recommend HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=b\r\n"
                b"Content-Length: 5000\r\n\r\n--b\r\nContent-Disposition: form-data; name=\"image\"; "
                b"filename=\"a.png\"\r\n\r\n\x89PNG")  # then nothing: 4,900 bytes promised never come


@pytest.mark.parametrize("sent", [b"", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"],
                         ids=["never-sends", "half-headers"])
def test_case19_connections_with_no_request_under_way_are_closed(guarded, sent):
    import time

    with _connect(guarded) as s:
        t0 = time.monotonic()
        s.sendall(sent)
        assert _read_all(s) == b""  # closed by the server (a socket timeout here: never closed)
        assert time.monotonic() - t0 < 6


def test_case19_a_stalled_request_body_gets_a_json_408_and_the_connection_closes(guarded):
    import time

    from evaluation.bench.client import Client

    with _connect(guarded) as s:
        t0 = time.monotonic()
        s.sendall(STALLED_HEAD)
        reply = _read_all(s)
        assert time.monotonic() - t0 < 6
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 408") and b"application/json" in head.lower(), reply
    assert json.loads(body)["error"] == "request_timeout"
    client = Client(guarded)
    assert client.get("/healthz").status == 200
    text = client.get("/metrics").body.decode()
    assert 'img2song_errors_total{kind="request_timeout"}' in text
    client.close()


def test_case10_sigterm_with_a_stalled_client_answers_json_503_and_shuts_down_cleanly(serve_run):
    import time

    from evaluation.bench.client import start_server, stop_server

    run, tmp = serve_run
    log = tmp / "sigterm.log"
    proc, url = start_server(run, [], module="tests.serve_main", log=log)  # the default 10 s deadline
    try:
        with _connect(url, timeout=20) as s:
            s.sendall(STALLED_HEAD)
            time.sleep(0.5)
            t0 = time.monotonic()
            proc.terminate()
            reply = _read_all(s)
            waited = time.monotonic() - t0
        code = proc.wait(20)
    finally:
        stop_server(proc)
    text = log.read_text(encoding="utf-8", errors="replace")
    head, _, body = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 503") and b"application/json" in head.lower(), (reply, text)
    assert json.loads(body)["error"] == "shutting_down"
    assert waited < 5, waited  # not the 10 s graceful-shutdown limit
    assert code in (0, -15) and "shut down cleanly" in text and "Traceback" not in text, text
