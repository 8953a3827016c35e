"""`img2song bench serve`: closed-loop clients against the HTTP service on loopback, p50/p99 and requests/s.

Cases (each bounded by a request count and a time): GET /healthz (the HTTP floor, as a baseline in the same
run), POST /recommend with an image id (query field), POST /recommend with a photo upload (decode + CNN + scorer),
and, as the baseline the service replaces, `img2song recommend PHOTO` as one process per answer. Every client
keeps one connection open and sends its next request when the last answer arrived. Latency is measured at the
client; the server's own timing_ms per stage is summarised beside it.
"""
from __future__ import annotations

import http.client
import json
import os
import platform
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from engine.timing import Latency
from evaluation.bench.client import REPO, Client, start_server, stop_server
from evaluation.stages.rundir import RunDir
from graph.common.atomic import write_json
from graph.common.errors import Img2SongError
from graph.corpus import load_corpus

TARGETS_MS = {"image_id": 5.0, "photo_upload": 60.0}  # p50 on 2 cores (issue 12)


def check_server(url: str) -> None:
    """A clear error before any case when nothing (or no img2song service) answers at `url`."""
    c = Client(url, timeout=10.0)
    try:
        r = c.get("/healthz")
    except (OSError, http.client.HTTPException) as e:
        raise Img2SongError(f"{url}: no server answers there ({getattr(e, 'strerror', None) or e})") from None
    finally:
        c.close()
    if r.status != 200:
        raise Img2SongError(f"{url}: GET /healthz answered {r.status}, not an img2song service ready to serve")


def closed_loop(make_request: Callable[[Client, int], int], url: str, clients: int, requests: int,
                seconds: float, warmup: int = 5) -> dict[str, Any]:
    """`clients` threads, each: request, wait for the answer, repeat; stops at `requests` in all or `seconds`."""
    lat: list[float] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    count = [0]
    clock = {"t0": 0.0, "stop": 0.0}

    def start_clock() -> None:  # runs once, when every client has warmed up
        clock["t0"] = time.perf_counter()
        clock["stop"] = clock["t0"] + seconds

    ready = threading.Barrier(clients, action=start_clock)

    failures: list[BaseException] = []

    def worker(w: int) -> None:
        c = Client(url)
        try:
            for j in range(warmup):
                make_request(c, w * 1000 + j)
            ready.wait()
            while True:
                with lock:
                    if count[0] >= requests or time.perf_counter() > clock["stop"]:
                        return
                    n = count[0]
                    count[0] += 1
                t0 = time.perf_counter()
                status = make_request(c, n)
                dt = time.perf_counter() - t0
                with lock:
                    if status == 200:
                        lat.append(dt)
                    else:
                        errors[str(status)] = errors.get(str(status), 0) + 1
        except (OSError, http.client.HTTPException, threading.BrokenBarrierError) as e:  # the server went away: end every client, say why
            with lock:
                failures.append(e)
            ready.abort()
        finally:
            c.close()

    threads = [threading.Thread(target=worker, args=(w,)) for w in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cause = next((e for e in failures if not isinstance(e, threading.BrokenBarrierError)), None)
    if cause is not None:
        raise Img2SongError(f"{url}: the server stopped answering during the benchmark ({cause})")
    wall = time.perf_counter() - clock["t0"]
    got = Latency.of(lat)
    return {"requests": len(lat), "errors": errors, "seconds": round(wall, 3),
            "p50_ms": got.p50_ms if got else None, "p99_ms": got.p99_ms if got else None,
            "mean_ms": got.mean_ms if got else None, "qps": len(lat) / wall if wall > 0 else None}


def _stage_medians(samples: list[dict[str, float]]) -> dict[str, float]:
    keys = sorted({k for s in samples for k in s})
    return {k: round(Latency.of(np.array([s[k] for s in samples if k in s]) / 1e3).p50_ms, 3) for k in keys}


def cli_baseline(run: Path, photo: Path, scorer: str, runs: int) -> dict[str, Any]:
    """Today's per-call path: one `img2song recommend PHOTO` process per answer (imports, loads, then answers)."""
    env = dict(os.environ, PYTHONPATH=str(REPO))
    lat = []
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.run([sys.executable, "-m", "evaluation.app.cli", "recommend", str(photo), "--run", str(run),
                            "--scorer", scorer], env=env, capture_output=True, text=True)
        if p.returncode != 0:
            raise Img2SongError(f"baseline `img2song recommend` failed: {p.stderr[-500:]}")
        lat.append(time.perf_counter() - t0)
    got = Latency.of(lat)
    return {"requests": runs, "errors": {}, "seconds": round(float(sum(lat)), 3),
            "p50_ms": got.p50_ms, "p99_ms": got.p99_ms, "mean_ms": got.mean_ms, "qps": got.per_s}


def bench_serve(run: RunDir | str | Path, scorer: str = "ne", k: int = 10, clients: int = 1, requests: int = 300,
                seconds: float = 15.0, url: str | None = None, cli_runs: int = 2, json_out: str | Path | None = None,
                echo: Callable[[str], None] = print) -> dict[str, Any]:
    """Measure the cases against a server (started here on a free loopback port unless `url`); print a table."""
    run = RunDir.of(run).require_dir()
    corpus = load_corpus(run.corpus_path(), check_files=False)
    images = [(i.id, corpus.image_path(i)) for i in corpus.images]
    photos = [(p.name, p.read_bytes()) for _, p in images[:64] if p.is_file()]
    if not images or not photos:
        raise Img2SongError(f"{run.path}: the run's corpus has no readable images to query with")
    ids = [i for i, _ in images]
    proc = None
    if url is None:
        echo(f"starting the server on {run.path} (scorer {scorer}) ...")
        proc, url = start_server(run, ["--scorers", scorer])
    else:
        check_server(url)
    stages: dict[str, list[dict[str, float]]] = {"image_id": [], "photo_upload": []}

    def healthz(c: Client, n: int) -> int:
        return c.get("/healthz").status

    def by_id(c: Client, n: int) -> int:
        r = c.post("/recommend", image_id=ids[n % len(ids)], scorer=scorer, k=k)
        if r.status == 200:
            stages["image_id"].append(r.json()["timing_ms"])
        return r.status

    def upload(c: Client, n: int) -> int:
        name, data = photos[n % len(photos)]
        r = c.post("/recommend", [("scorer", scorer), ("k", str(k))], [("image", name, data)])
        if r.status == 200:
            stages["photo_upload"].append(r.json()["timing_ms"])
        return r.status

    cases = []
    try:
        for name, fn in (("healthz", healthz), ("image_id", by_id), ("photo_upload", upload)):
            echo(f"case {name}: {clients} closed-loop client(s), at most {requests} requests / {seconds:g} s")
            res = closed_loop(fn, url, clients, requests, seconds)
            cases.append({"name": name, "clients": clients, **res,
                          "server_timing_ms": _stage_medians(stages.get(name, []))})
    finally:
        if proc is not None:
            stop_server(proc)
    if cli_runs:
        echo(f"case cli_recommend: {cli_runs} x `img2song recommend PHOTO --scorer {scorer}` (one process each)")
        cases.append({"name": "cli_recommend", "clients": 1, **cli_baseline(run.path, images[0][1], scorer,
                                                                           cli_runs), "server_timing_ms": {}})
    base = {c["name"]: c["p50_ms"] for c in cases}
    for c in cases:
        target = TARGETS_MS.get(c["name"])
        c["target_p50_ms"] = target
        c["target_met"] = None if target is None or c["p50_ms"] is None else c["p50_ms"] <= target
        if c["name"] == "photo_upload" and base.get("cli_recommend") and c["p50_ms"]:
            c["speedup_vs_cli_p50"] = base["cli_recommend"] / c["p50_ms"]
    doc = {"cases": cases, "meta": {"run": str(run.path), "scorer": scorer, "k": k, "songs": len(corpus.songs),
                                    "images": len(ids), "cpus": os.cpu_count(), "python": platform.python_version(),
                                    "backbone": run.load_features_meta().get("backbone")}}
    for line in table(cases):
        echo(line)
    if json_out:
        echo(f"wrote {write_json(json_out, doc)}")
    return doc


def table(cases: list[dict[str, Any]]) -> list[str]:
    def f(v: Any) -> str:
        return "-" if v is None else f"{v:.2f}" if isinstance(v, float) else str(v)

    out = [f"{'case':14s} {'n':>5s} {'p50 ms':>9s} {'p99 ms':>9s} {'req/s':>8s} {'target p50':>11s}  server stages (ms)"]
    for c in cases:
        tgt = "-" if c["target_p50_ms"] is None else f"<= {c['target_p50_ms']:g} " + ("met" if c["target_met"]
                                                                                   else "MISSED")
        st = json.dumps(c.get("server_timing_ms") or {})
        out.append(f"{c['name']:14s} {c['requests']:5d} {f(c['p50_ms']):>9s} {f(c['p99_ms']):>9s} {f(c['qps']):>8s} "
                   f"{tgt:>11s}  {st}")
    for c in cases:
        if "speedup_vs_cli_p50" in c:
            out.append(f"photo upload p50 vs one `img2song recommend` process: {c['speedup_vs_cli_p50']:.0f}x faster")
    return out
