"""The HTTP service, started for real in a subprocess on a free loopback port, spoken to over HTTP.

The run is tests/scorer_contract.make_run with its features made by a tiny registered backbone
(tests/serve_main.py), and its scorers fitted and saved before the server starts (so it loads them).
"""
from __future__ import annotations

import asyncio
import http.client
import io
import re
import struct
import time
import zlib

import numpy as np
import pytest
from PIL import Image

from evaluation.app.serve.service import BoundedPool, ServiceError
from evaluation.bench.client import Client, start_server, stop_server
from evaluation.stages import pipeline
from evaluation.stages.fitted import load_or_fit
from evaluation.stages.run_inputs import known_image_query
from tests.conftest import own_cache
from tests.scorer_contract import make_run
from tests.serve_main import BACKBONE

LIMIT = 48 * 1024  # the test server's upload limit (--max-upload-mb), so over-limit bodies stay small
MAX_PIXELS = 5000


def png(w: int, h: int, seed: int = 0) -> bytes:
    buf = io.BytesIO()
    rgb = np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(buf, format="PNG")
    return buf.getvalue()


def png_header_only(w: int, h: int) -> bytes:
    """A valid PNG signature and IHDR announcing w x h pixels, and no pixel data: a bomb's header."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) + \
        chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def served(tmp_path_factory, dictionary_cache):
    tmp = tmp_path_factory.mktemp("serve")
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the per-test cache fixture
        mp.setenv("IMG2SONG_CACHE", str(own_cache(tmp / "cache", dictionary_cache)))
        run = make_run(tmp)
        pipeline.features(run, backbone=BACKBONE, echo=lambda _: None)
        pipeline.fit_scorers(run, ["ne", "km", "pop"], echo=lambda _: None)
        proc, url = start_server(run, ["--max-upload-mb", str(LIMIT / 2**20), "--max-pixels", str(MAX_PIXELS),
                                       "--max-k", "8"], module="tests.serve_main", log=tmp / "server.log")
    client = Client(url)
    yield run, client, url
    client.close()
    code = stop_server(proc)  # SIGTERM: uvicorn drains, the lifespan stops the pools, then re-raises the signal
    log = (tmp / "server.log").read_text()
    assert code in (0, -15) and "shut down cleanly" in log, log


def photo(run) -> bytes:
    return (run.parent / "corpus" / "images" / "q2.png").read_bytes()


def test_photo_upload_gives_k_songs_as_the_cli_does(served):
    run, client, _ = served
    r = client.post("/recommend", [("k", "5")], [("image", "q2.png", photo(run))])
    assert r.status == 200, r.body
    doc = r.json()
    assert doc["scorer"] == "ne" and len(doc["songs"]) == 5
    assert all(set(s) == {"id", "title", "artist", "score", "explanation"} for s in doc["songs"])
    assert {"decode", "cnn", "score", "total"} <= set(doc["timing_ms"])
    cli = pipeline.recommend(run, [run.parent / "corpus" / "images" / "q2.png"], "ne", 5, echo=lambda _: None)
    assert [s["id"] for s in doc["songs"]] == [x.song_id for x in cli[0]]
    r = client.post("/recommend", [("scorer", "pop"), ("k", "3")], [("image", "q2.png", photo(run))])
    assert r.status == 200 and r.json()["scorer"] == "pop" and len(r.json()["songs"]) == 3


def test_image_id_as_form_or_query_field_answers_as_the_saved_scorer(served):
    run, client, _ = served
    by_form = client.post("/recommend", [("image_id", "i2"), ("scorer", "km"), ("k", "4")])  # known keywords
    by_query = client.post("/recommend", image_id="i2", scorer="km", k=4)
    assert by_form.status == by_query.status == 200
    assert by_form.json()["songs"] == by_query.json()["songs"]
    f = load_or_fit(run, "km")
    assert f.status == "loaded"
    from evaluation.stages.run_inputs import load_training_set
    want = f.scorer.recommend(known_image_query(load_training_set(run), "i2"), 4)
    assert [(s["id"], s["score"]) for s in by_form.json()["songs"]] == [(x.song_id, x.score) for x in want]


def test_batch_songs_and_health(served):
    run, client, _ = served
    r = client.post("/recommend/batch", [("image_id", "q1"), ("image_id", "i3"), ("k", "2")],
                    [("image", "a.png", photo(run)), ("image", "b.png", png(16, 16))])
    assert r.status == 200, r.body
    res = r.json()["results"]
    assert [x["query"] for x in res] == ["a.png", "b.png", "q1", "i3"] and all(len(x["songs"]) == 2 for x in res)
    single = client.post("/recommend", image_id="i3", k=2).json()["songs"]
    assert res[3]["songs"] == single
    s = client.get("/songs/s1")
    assert s.status == 200 and s.json()["title"] == "title s1" and "明月" in s.json()["lyrics"]
    h = client.get("/healthz").json()
    assert h["status"] == "ok" and h["songs"] == 8 and h["scorers"] == {n: "loaded" for n in ("ne", "km", "pop")}


BAD = [  # (name, request args, status, error kind)
    ("not an image", dict(files=[("image", "x.png", b"hello, not a picture")]), 415, "not_an_image"),
    ("truncated image", dict(files=[("image", "t.png", png(64, 64)[:4000])]), 400, "truncated_image"),
    ("bomb header", dict(files=[("image", "b.png", png_header_only(100_000, 100_000))]), 413, "decompression_bomb"),
    ("over max pixels", dict(files=[("image", "p.png", png(100, 100))]), 413, "decompression_bomb"),
    ("upload over the limit", dict(files=[("image", "big.png", png(160, 160))]), 413, "upload_too_large"),
    ("unknown scorer", dict(fields=[("image_id", "q1"), ("scorer", "nope")]), 400, "unknown_scorer"),
    ("unknown image id", dict(fields=[("image_id", "no-such-image")]), 404, "unknown_image"),
    ("k zero", dict(fields=[("image_id", "q1"), ("k", "0")]), 422, "bad_k"),
    ("k over max", dict(fields=[("image_id", "q1"), ("k", "9")]), 422, "bad_k"),
    ("k not a number", dict(fields=[("image_id", "q1"), ("k", "ten")]), 422, "invalid_request"),
    ("no image", dict(fields=[("scorer", "ne")]), 400, "no_image"),
    ("upload and id", dict(fields=[("image_id", "q1")], files=[("image", "a.png", png(8, 8))]), 400, "bad_request"),
]


@pytest.mark.parametrize("name,args,status,kind", BAD, ids=[b[0] for b in BAD])
def test_bad_input_gets_its_4xx_and_the_server_stays_up(served, name, args, status, kind):
    _, client, _ = served
    if name == "upload over the limit":
        assert len(png(160, 160)) > LIMIT
    r = client.post("/recommend", args.get("fields", []), args.get("files", []))
    assert r.status == status, r.body
    doc = r.json()
    assert doc["error"] == kind and doc["detail"]
    assert client.get("/healthz").status == 200


def test_chunked_upload_over_the_limit_is_cut_while_reading(served):
    _, _, url = served
    port = int(url.rsplit(":", 1)[1])
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    def body():  # no Content-Length: the limit can only be enforced while counting
        yield b'--zzz\r\nContent-Disposition: form-data; name="image"; filename="big.png"\r\n\r\n'
        for _ in range(6):
            yield b"x" * (LIMIT // 3)
        yield b"\r\n--zzz--\r\n"

    conn.request("POST", "/recommend", body=body(), encode_chunked=True,
                 headers={"Content-Type": "multipart/form-data; boundary=zzz", "Transfer-Encoding": "chunked"})
    r = conn.getresponse()
    assert r.status == 413 and b"upload limit" in r.read()
    conn.close()


def test_metrics_count_requests_and_errors_and_docs_are_served(served):
    _, client, _ = served
    for _ in range(2):
        assert client.post("/recommend", [("image_id", "q1"), ("scorer", "nope")]).status == 400
    assert client.post("/recommend", files=[("image", "x", b"not an image")]).status == 415
    assert client.post("/recommend", files=[("image", "big", b"\0" * (LIMIT + 1))]).status == 413  # before routing
    assert client.post("/recommend", image_id="q1", k=0).status == 422
    text = client.get("/metrics").body.decode()
    unknown = re.search(r'img2song_errors_total\{kind="unknown_scorer"\} (\d+)', text)
    assert unknown and int(float(unknown.group(1))) >= 2
    for kind in ("not_an_image", "upload_too_large", "bad_k"):
        assert re.search(rf'img2song_errors_total\{{kind="{kind}"\}} [1-9]', text), kind
    assert re.search(r'img2song_requests_total\{method="POST",route="/recommend",status="413"\} [1-9]', text)
    assert re.search(r'img2song_requests_total\{method="POST",route="/recommend",status="200"\} \d', text)
    assert re.search(r'img2song_requests_total\{method="POST",route="/recommend",status="400"\} \d', text)
    assert 'img2song_request_duration_seconds_bucket{le="0.005",route="/healthz"}' in text
    docs = client.get("/docs")
    assert docs.status == 200 and b"swagger" in docs.body.lower()
    js = re.search(rb'src="(/[^"]+swagger-ui-bundle\.js)"', docs.body)  # served by the app: no CDN
    assert js and client.get(js.group(1).decode()).status == 200
    spec = client.get("/openapi.json").json()
    assert {"/recommend", "/recommend/batch", "/songs/{song_id}", "/healthz", "/metrics"} <= set(spec["paths"])
    assert "image" in str(spec["components"])  # the multipart field is documented


def test_openapi_documents_every_answer_and_real_answers_match_their_models(served):
    from evaluation.app.serve import models

    run, client, _ = served
    spec = client.get("/openapi.json").json()
    routes = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert routes == {("post", "/recommend"), ("post", "/recommend/batch"), ("get", "/songs/{song_id}"),
                      ("get", "/healthz"), ("get", "/metrics"),  # and the live catalogue's changes:
                      ("post", "/songs"), ("post", "/images"), ("delete", "/songs/{song_id}"),
                      ("delete", "/images/{image_id}")}
    for p, ops in spec["paths"].items():
        for m, op in ops.items():
            ok = (op["responses"].get("200") or op["responses"]["201"])["content"]
            if p == "/metrics":
                assert "text/plain" in ok
                continue
            assert ok["application/json"]["schema"]["$ref"].startswith("#/components/schemas/"), (m, p)
            errors = {s: r for s, r in op["responses"].items() if s.startswith(("4", "5"))}
            assert errors, (m, p)  # every route documents how it refuses, with our error body
            assert all(r["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
                       for r in errors.values()), (m, p)
    # what the server really sends parses as the model it documents, refusals included
    models.RecommendResponse.model_validate(client.post("/recommend", image_id="i2", k=3).json())
    models.BatchResponse.model_validate(client.post("/recommend/batch", [("image_id", "i2"), ("k", "2")]).json())
    models.SongDetail.model_validate(client.get("/songs/s1").json())
    models.Health.model_validate(client.get("/healthz").json())
    bad = client.post("/recommend", image_id="i2", k=999)
    assert bad.status == 422 and models.ErrorResponse.model_validate(bad.json()).error == "bad_k"
    missing = client.get("/songs/nope")
    assert missing.status == 404 and models.ErrorResponse.model_validate(missing.json()).error == "unknown_song"


def test_bounded_pool_refuses_when_full_and_drops_jobs_past_their_deadline():
    pool = BoundedPool(workers=1, queue=1, name="cnn")
    gate = __import__("threading").Event()
    try:
        far = time.monotonic() + 30
        first = pool.submit(gate.wait, deadline=far)  # occupies the worker
        second = pool.submit(lambda: "ran", deadline=time.monotonic() + 0.05)  # waits, then is past deadline
        with pytest.raises(ServiceError) as busy:
            pool.submit(lambda: None, deadline=far)
        assert (busy.value.status, busy.value.kind) == (503, "busy")
        time.sleep(0.1)
        gate.set()
        assert first.result(5) is True
        with pytest.raises(ServiceError) as late:
            second.result(5)
        assert (late.value.status, late.value.kind) == (503, "over_deadline")
        assert asyncio.run(pool.run(lambda: 42, deadline=time.monotonic() + 5)) == 42
        with pytest.raises(ServiceError, match="deadline"):  # a job still running at the deadline: 503, not a wait
            asyncio.run(pool.run(time.sleep, 0.5, deadline=time.monotonic() + 0.05))
    finally:
        gate.set()
        pool.shutdown()


def test_bench_serve_reports_every_case_against_a_running_server(served, tmp_path):
    from evaluation.bench.serve import bench_serve

    run, _, url = served
    lines: list[str] = []
    doc = bench_serve(run, scorer="ne", k=5, requests=6, seconds=5, url=url, cli_runs=0, json_out=tmp_path / "b.json",
                      echo=lines.append)
    cases = {c["name"]: c for c in doc["cases"]}
    assert list(cases) == ["healthz", "image_id", "photo_upload"]
    for c in cases.values():
        assert c["requests"] == 6 and not c["errors"] and 0 < c["p50_ms"] <= c["p99_ms"] and c["qps"] > 0
    assert cases["photo_upload"]["target_p50_ms"] == 60 and "cnn" in cases["photo_upload"]["server_timing_ms"]
    assert isinstance(cases["image_id"]["target_met"], bool)
    assert any(ln.startswith("photo_upload") for ln in lines)
    assert (tmp_path / "b.json").is_file()
