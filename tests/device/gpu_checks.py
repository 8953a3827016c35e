"""Checks of every CUDA path on a real GPU (issue: the GPU path on a real GPU); run by tests/device/run.sh.

Not collected by pytest (no test_ prefix): CI has no GPU. Prints one JSON record per measurement and writes them
all to $OUT/gpu_checks.json. Ceilings are measured in the same process (device-to-device copy bandwidth).
"""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

OUT = Path(os.environ.get("OUT", "/tmp/out"))
RESULTS: list[dict] = []
BYTES_PER_EDGE = lambda d, k: 2 * (k + 2) * d * 4  # noqa: E731  DESIGN.md's model: rows read + written, fp32


def record(**kw) -> None:
    RESULTS.append(kw)
    print(json.dumps(kw), flush=True)
    (OUT / "gpu_checks.json").write_text(json.dumps(RESULTS, indent=1))


def copy_bandwidth() -> float:
    """Bytes/s of a device-to-device copy (read + write counted), the measured memory ceiling."""
    x = torch.empty(2 * 1024**3 // 4, device="cuda")
    y = torch.empty_like(x)
    for _ in range(3):
        y.copy_(x)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for _ in range(10):
        y.copy_(x)
    torch.cuda.synchronize()
    bw = 10 * 2 * x.numel() * 4 / (time.perf_counter() - t)
    del x, y
    return bw


def bench_line(bw: float, which: str) -> None:
    """Edges/s of the exact (deterministic) and fused (Hogwild) Triton paths; block_edges None = launch_config's."""
    from evaluation.bench.line import bench_graphs, measure

    sizes = {"ref": [], "10M": [10_000_000]}[which]
    graph = next(bench_graphs(sizes, reference_graph=not sizes, seed=0))
    plan = [("triton", None, None), ("triton", None, 32), ("triton-fused", None, None), ("triton-fused", 262_144, None),
            ("triton-fused", 1_048_576, None), ("triton-fused", 1_048_576, 32)]
    if which == "10M":
        plan = [("triton", None, None), ("triton-fused", 1_048_576, None)]
    for label, bs, be in plan:
        try:
            r = measure(label, graph, dim=128, device="cuda", target_s=1.0, batch_size=bs,
                        config={} if be is None else {"block_edges": be})
        except Exception as e:  # noqa: BLE001 - a failed config is a finding, not the end of the run
            record(kind="line", graph=graph.name, impl=label, batch=bs, block_edges=be, error=repr(e))
            continue
        record(kind="line", graph=graph.name, edges=r.edges, impl=label, batch=r.batch_size, block_edges=be or "default",
               samples=r.samples, seconds=round(r.seconds, 3), edges_per_s=round(r.edges_per_s),
               roofline_share_measured_bw=round(r.edges_per_s * BYTES_PER_EDGE(128, 5) / bw, 3),
               roofline_share_4p8TBs=round(r.edges_per_s * BYTES_PER_EDGE(128, 5) / 4.8e12, 3))


def topic_graph(n_songs: int = 100_000, n_images: int = 50_000, n_keywords: int = 1_000, topics: int = 50,
                song_deg: int = 10, image_deg: int = 5, on_topic: float = 0.8, seed: int = 0):
    """The bench graph's shape (151k vertices, 1.25M edges) with planted topics: each keyword belongs to a topic,
    each song and image draws `on_topic` of its keywords from its own topic (the rest anywhere). Songs of one topic
    share keywords, so second-order LINE should place them together: a quality measure with a known answer."""
    from engine.line.synthetic import make_tripartite_powerlaw

    base = make_tripartite_powerlaw(n_songs, n_images, n_keywords, song_deg, image_deg, seed=seed)
    rng = np.random.default_rng(seed + 1)
    owner_topic = rng.integers(topics, size=n_songs + n_images)  # keyword j belongs to topic j % topics
    edges = base.edges.copy()  # rows: (song or image vertex, keyword vertex), keywords are vertices 0..n_keywords-1
    owner = edges[:, 0] - n_keywords
    pick = rng.random(len(edges)) < on_topic
    edges[pick, 1] = owner_topic[owner[pick]] + topics * rng.integers(n_keywords // topics, size=int(pick.sum()))
    edges = np.unique(edges, axis=0)
    net = type(base)(base.ids, base.kinds, base.labels, edges, np.ones(len(edges), np.float32), directed=False)
    return net, owner_topic[:n_songs]


def same_topic_share(vectors: torch.Tensor, song0: int, topic: np.ndarray, n: int = 2000, k: int = 10) -> float:
    """Share of a song's k cosine-nearest other songs that have its topic (chance: 1/topics)."""
    x = torch.nn.functional.normalize(vectors[song0:song0 + len(topic)].float(), dim=1)
    rows = torch.as_tensor(np.random.default_rng(0).choice(len(topic), n, replace=False), device=x.device)
    sim = x[rows] @ x.T
    sim[torch.arange(n, device=x.device), rows] = -2.0  # not itself
    nn = sim.topk(k, dim=1).indices.cpu().numpy()
    return float((topic[nn] == topic[rows.cpu().numpy()][:, None]).mean())


def line_quality(samples: int = 50_000_000) -> None:
    """Every GPU path (and the batched reference) on the topic graph, same samples and seeds: same-topic 10-NN share
    of songs from the order-2 vertex vectors (d=128, K=5)."""
    from engine.line.model import LINE

    t = time.perf_counter()
    net, topic = topic_graph()
    print(f"topic graph {time.perf_counter() - t:.1f} s: {net.num_vertices} vertices, {net.num_edges} edges",
          flush=True)
    for impl, bs in (("reference", None), ("triton", None), ("triton-fused", None), ("triton-fused", 1_048_576)):
        for seed in (0, 1):
            t = time.perf_counter()
            m = LINE(dim=128, order=2, samples=samples, impl=impl, device="cuda", batch_size=bs, seed=seed,
                     progress=False).fit(net)
            torch.cuda.synchronize()
            dt = time.perf_counter() - t
            u = m.vertex_[2]
            record(kind="line_quality", impl=impl, batch=bs or "default", seed=seed, samples=samples,
                   fit_seconds=round(dt, 2), same_topic_10nn=round(same_topic_share(u, 1000, topic), 4),
                   chance=0.02, finite=bool(torch.isfinite(u).all()))


def bench_features() -> None:
    from engine.features.extract import extract_features

    rows = [json.loads(x) for x in Path("data/starter/images.jsonl").read_text().splitlines() if x.strip()]
    items = [(r["id"], str(Path("data/starter") / r["file"])) for r in rows]
    for device, n, bs, workers in (("cpu", 64, 32, 0), ("cuda", len(items), 128, 8)):
        sub = items[:n]
        torch.set_num_threads(16 if device == "cpu" else 4)
        if device == "cuda":
            extract_features(sub[:128], device=device, use_cache=False, batch_size=bs, num_workers=workers,
                             progress=False)  # warm-up (cuDNN autotune, weights to the device)
            torch.cuda.synchronize()
        t = time.perf_counter()
        ex = extract_features(sub, device=device, use_cache=False, batch_size=bs, num_workers=workers,
                              progress=False)
        if device == "cuda":
            torch.cuda.synchronize()
        dt = time.perf_counter() - t
        record(kind="features", device=device, images=len(sub), computed=ex.report.computed, seconds=round(dt, 2),
               images_per_s=round(len(sub) / dt, 1), batch=bs, workers=workers)
        if device == "cpu":
            cpu_feats = ex.features
    gpu = ex.features
    idx = [gpu.ids.index(i) for i in cpu_feats.ids]
    diff = float(np.abs(gpu.vectors[idx] - cpu_feats.vectors).max())
    scale = float(np.abs(cpu_feats.vectors).max())
    record(kind="features_parity", tf32=torch.backends.cudnn.allow_tf32, max_abs_diff_cuda_vs_cpu=diff,
           max_abs_feature=scale, images=len(idx))
    was = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False  # full fp32 convolutions: how close the GPU comes to the CPU's numbers
    try:
        strict = extract_features(items[:64], device="cuda", use_cache=False, batch_size=64, progress=False).features
    finally:
        torch.backends.cudnn.allow_tf32 = was
    record(kind="features_parity", tf32=False, images=64,
           max_abs_diff_cuda_vs_cpu=float(np.abs(strict.vectors - cpu_feats.vectors).max()))
    # forward alone on the GPU (the ceiling of the stage once decoding keeps up)
    from engine.features.backbones import get_backbone

    bb = get_backbone("efficientnet-lite0").to("cuda").eval()
    x = torch.randn(256, 3, 224, 224, device="cuda")
    with torch.inference_mode():
        for _ in range(3):
            bb(x)
        torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(10):
            bb(x)
        torch.cuda.synchronize()
    record(kind="features_forward_only", device="cuda", images_per_s=round(2560 / (time.perf_counter() - t)))


def bench_song_lists(n_images: int = 100_000, n_songs: int = 1_000_000, dim: int = 128, m: int = 22) -> None:
    """Every training image's m nearest songs, exact: engine.knn.knn's blocked top-k on the GPU (then its float64
    re-rank on the CPU, as SongLists does), checked against a float64 full sort on 50 rows."""
    from engine.knn import knn

    rng = np.random.default_rng(0)
    songs = rng.normal(size=(n_songs, dim)).astype(np.float32)
    imgs = rng.normal(size=(n_images, dim)).astype(np.float32)
    knn(imgs[:256], songs, m, method="torch", device="cuda")  # warm-up (CUDA context, cuBLAS)
    torch.cuda.synchronize()
    t = time.perf_counter()
    _, idx = knn(imgs, songs, m, method="torch", device="cuda")
    dt = time.perf_counter() - t
    rows = rng.choice(n_images, 50, replace=False)
    s64 = songs.astype(np.float64)
    agree = sum(np.array_equal(np.argsort(((s64 - imgs[r].astype(np.float64)) ** 2).sum(1), kind="stable")[:m],
                               idx[r]) for r in rows)
    record(kind="song_lists", device="cuda", path="engine.knn.knn(method='torch')", images=n_images, songs=n_songs,
           dim=dim, m=m, seconds=round(dt, 2), flop=2.0 * n_images * n_songs * dim,
           tflops=round(2.0 * n_images * n_songs * dim / dt / 1e12, 1), rows_identical_to_float64_sort=f"{agree}/50")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    steps = sys.argv[1:] or ["env", "line-ref", "line-10M", "line-quality", "features", "song-lists"]
    if "env" in steps:
        import triton

        record(kind="env", torch=torch.__version__, triton=triton.__version__, gpu=torch.cuda.get_device_name(0),
               python=sys.version.split()[0])
    bw = copy_bandwidth()
    record(kind="copy_bandwidth", bytes_per_s=round(bw), tb_per_s=round(bw / 1e12, 2))
    for step, fn in (("line-ref", lambda: bench_line(bw, "ref")), ("line-10M", lambda: bench_line(bw, "10M")),
                     ("line-quality", line_quality), ("features", bench_features),
                     ("song-lists", bench_song_lists)):
        if step in steps:
            t = time.perf_counter()
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - report and go on to the next check
                import traceback

                traceback.print_exc()
                record(kind="error", step=step, error=repr(e))
            print(f"[{step}] {time.perf_counter() - t:.1f} s", flush=True)
