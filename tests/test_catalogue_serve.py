"""The live catalogue over HTTP, on a real server on loopback: songs and photos added and removed while
recommendations are served (no 5xx, no half state), strict 4xx naming the field, and a restart that keeps it all."""
from __future__ import annotations

import json
import threading
import time

import pytest

from evaluation.app.serve.catalogue_routes import AddResponse, RemoveResponse
from evaluation.bench.client import Client, start_server, stop_server
from tests.conftest import own_cache
from tests.live_run import committed_probe_seen, make_live_run, photo

ARGS = ["--scorers", "ne,km,pop,ne+", "--max-k", "200"]
S1 = {"id": "live-moon", "title": "新月", "artist": "me", "lyrics": "明月照船头，月下月光，月。", "language": "zh",
      "popularity": 80}
S2 = {"id": "live-rain", "title": "新雨", "artist": "me", "lyrics": "细雨落花，雨打芭蕉，雨。", "language": "zh"}


@pytest.fixture(scope="module")
def served(tmp_path_factory, dictionary_cache, live_base):
    tmp = tmp_path_factory.mktemp("live-serve")
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the per-test cache fixture
        mp.setenv("IMG2SONG_CACHE", str(own_cache(tmp / "cache", dictionary_cache)))
        run = make_live_run(tmp, base=live_base)
        proc, url = start_server(run, ARGS, module="tests.serve_main", log=tmp / "server.log")
    box = {"proc": proc, "url": url}
    yield tmp, run, box
    stop_server(box["proc"])


def post_json(c: Client, path: str, doc) -> tuple[int, dict]:
    r = c.request("POST", path, json.dumps(doc, ensure_ascii=False).encode(), {"Content-Type": "application/json"})
    return r.status, r.json()


def png_bytes(tmp, keyword: str, seed: int) -> bytes:
    photo(tmp / f"up{seed}.png", keyword, seed)
    return (tmp / f"up{seed}.png").read_bytes()


def test_changes_under_concurrent_recommendations_then_restart(served):
    tmp, run, box = served
    c = Client(box["url"])
    n0, i0 = c.get("/healthz").json()["songs"], c.get("/healthz").json()["images"]
    stop, log = threading.Event(), []

    def hammer(scorer: str) -> None:
        cl = Client(box["url"])
        while not stop.is_set():
            t = time.monotonic()
            r = cl.post("/recommend", [("image_id", "p002"), ("scorer", scorer), ("k", "200")])
            log.append((scorer, t, r.status, [s["id"] for s in r.json().get("songs", [])] if r.status == 200 else r.body))
        cl.close()

    threads = [threading.Thread(target=hammer, args=(s,)) for s in ("km", "ne", "km", "ne+")]
    for t in threads:
        t.start()
    time.sleep(0.5)
    status, doc = post_json(c, "/songs", [S1, S2])
    assert status == 201 and doc["added"]["songs"] == ["live-moon", "live-rain"], doc
    AddResponse.model_validate(doc)  # the answer is the documented model
    assert doc["catalogue"]["songs"] == n0 + 2 and set(doc["catalogue"]["scorers"].values()) == {"updated"}
    r = c.post("/images", [("id", "live-photo"), ("tags", "moon"), ("kind", "photo")],
               [("image", "m.png", png_bytes(tmp, "月", 77))])
    assert r.status == 201 and r.json()["keywords"] == {"月": 1.0}, r.body
    assert r.json()["timing_ms"]["cnn"] > 0
    r = c.request("DELETE", "/songs/live-rain")
    assert r.status == 200 and r.json()["catalogue"]["songs"] == n0 + 1
    RemoveResponse.model_validate(r.json())
    deleted_at = time.monotonic()
    assert c.request("DELETE", "/images/p001").status == 200
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    assert len(log) >= 20 and all(st == 200 for _, _, st, _ in log), [x for x in log if x[2] != 200][:3]
    for scorer, t, _, ids in log:  # each answer comes from one whole state: every song of it, once
        assert len(ids) == len(set(ids)), scorer
        if scorer == "km":  # k >= the catalogue: KM lists all of it
            assert len(ids) in (n0, n0 + 1, n0 + 2), len(ids)
        if t > deleted_at:
            assert "live-rain" not in ids
    assert c.get("/songs/live-rain").status == 404 and c.get("/songs/live-moon").json()["title"] == "新月"
    after = {}
    for scorer in ("ne", "km", "ne+"):  # the new song is recommended for the new photo of its keyword
        r = c.post("/recommend", [("image_id", "live-photo"), ("scorer", scorer), ("k", "10")])
        assert r.status == 200, r.body
        after[scorer] = [s["id"] for s in r.json()["songs"]]
        assert "live-moon" in after[scorer], (scorer, after[scorer])
    assert c.post("/recommend", [("image_id", "p001")]).status == 404
    health = c.get("/healthz").json()
    assert (health["songs"], health["images"]) == (n0 + 1, i0)
    # the keyword probe is refitted in the background after the photo and the image removal, and journalled
    assert committed_probe_seen(run, 2, timeout=120) == 2
    c.close()
    # restart: the journal is replayed, the same answers come back
    stop_server(box["proc"])
    box["proc"], box["url"] = start_server(run, ARGS, module="tests.serve_main", log=tmp / "server2.log")
    c = Client(box["url"])
    health = c.get("/healthz").json()
    assert (health["songs"], health["images"]) == (n0 + 1, i0)
    for scorer in ("ne", "km", "ne+"):
        r = c.post("/recommend", [("image_id", "live-photo"), ("scorer", scorer), ("k", "10")])
        assert [s["id"] for s in r.json()["songs"]] == after[scorer], scorer
    assert c.get("/songs/live-rain").status == 404
    c.close()


BAD_SONGS = [  # (body, status, error kind, fragment of the detail)
    (b"{not json", 400, "bad_json", "malformed JSON"),
    (json.dumps({**S1, "id": "b1", "mood": "x"}).encode(), 422, "invalid_field", "'mood'"),
    (json.dumps({**S1, "id": "b2", "lyrics": ""}).encode(), 422, "invalid_field", "'lyrics'"),
    (json.dumps({**S1, "id": "b3", "lyrics": "月" * 200_001}).encode(), 422, "invalid_field", "'lyrics'"),
    (json.dumps({**S1, "id": "b4", "language": "xx"}).encode(), 422, "invalid_field", "'language'"),
    (json.dumps([{**S1, "id": "b5"}, {**S1, "id": "b5"}]).encode(), 422, "invalid_field", "duplicate"),
    (json.dumps({**S1, "id": "s001"}).encode(), 409, "conflict", "'id'"),
    (json.dumps({**S1, "id": "b6", "lyrics": "no keyword in here", "language": "en"}).encode(), 422, "invalid_item",
     "'lyrics'"),
]


@pytest.mark.parametrize("body,status,kind,part", BAD_SONGS, ids=[str(i) for i in range(len(BAD_SONGS))])
def test_bad_songs_get_a_4xx_naming_the_field(served, body, status, kind, part):
    _, _, box = served
    c = Client(box["url"])
    n = c.get("/healthz").json()["songs"]
    r = c.request("POST", "/songs", body, {"Content-Type": "application/json"})
    assert (r.status, r.json()["error"]) == (status, kind) and part in r.json()["detail"], r.body
    assert c.get("/healthz").json()["songs"] == n
    c.close()


def test_bad_images_and_deletes_get_a_4xx(served):
    tmp, _, box = served
    c = Client(box["url"])
    ok = png_bytes(tmp, "花", 5)
    for fields, files, status, part in (
            ([("id", "x1"), ("tags", "flower")], [], 422, "'image'"),
            ([("id", "x2"), ("tags", "flower"), ("colour", "red")], [("image", "a.png", ok)], 422, "'colour'"),
            ([("id", "x3")], [("image", "a.png", ok)], 422, "'tags'"),
            ([("id", "x4"), ("tags", "spaceship")], [("image", "a.png", ok)], 422, "reach none"),
            ([("id", "x5"), ("tags", "flower")], [("image", "a.png", b"not a picture")], 415, "not a recognised image format"),
            ([("id", "p002"), ("tags", "flower")], [("image", "a.png", ok)], 409, "'id'")):
        r = c.post("/images", fields, files)
        assert r.status == status and part in r.json()["detail"], r.body
    assert c.request("DELETE", "/songs/no-such-song").status == 404
    assert c.request("DELETE", "/images/no-such-image").status == 404
    c.close()
