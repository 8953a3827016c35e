"""Retrieval benchmark: per-query latency of NE and KM from features, today's per-call path beside the indexes.

Synthetic, clustered tables (`synthetic_tables`): songs x 128-d NE vectors, images x 1280-d CNN features built as
Gaussian clusters in a 64-d latent space mapped to 1280 dimensions (so ANN recall means something), image NE vectors
near their cluster's songs, lyrics of Zipf-distributed tokens and keyword tag vectors for KM. All cases run in one
process on the same tables and queries:

- ne/per-call-exact: the code before the indexes: two engine.knn calls on the raw tables per query (the images,
  then the neighbours' songs), each converting, checking and indexing its whole table.
- ne/index-exact: NEScorer with the exact image index (table validated once) and precomputed song lists.
- ne/index-<hnsw|ivf>: NEScorer with the approximate image index; recall@10 of its image neighbours against the
  exact ones, and the overlap of its 10 songs with the exact index's 10.
- km/*: the keyword index build and KM queries, before and now (evaluation.bench.km).

Song lists (each training image's nearest songs, exact) cost images x songs x d at fit (2.6e13 FLOP at 100k x 1M):
by default the benchmark computes those of the images its queries reach and extrapolates the full build;
`full_song_lists` builds every row (on `device`: 'cpu' or 'cuda'). Either way today's path before the blocked
top-k (faiss IndexFlatL2 search in batches of 1024) runs on up to `baseline_rows` of the same rows in the same
process, for the ratio and an answer check. Queries are timed after the lists they need exist, as after a fit.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from engine.index.image import exact_knn_ids, recall_at
from engine.index.song_lists import SongLists
from engine.knn import knn, resolve_device
from engine.scorers.base import Query
from engine.scorers.ne import NEScorer
from engine.timing import Latency, time_calls, timed
from evaluation.bench.km import km_cases
from evaluation.bench.line import machine_info
from graph.common import atomic
from graph.common.errors import Img2SongError

TARGET_NE_P50_MS = 2.0
TARGET_RECALL = 0.95
TARGET_KM_INDEX_S = 10.0  # issue 23, at 1M lyrics x 256 keywords
TARGET_KM_P50_MS = 5.0


@dataclass
class Case:
    """One measured path: latency percentiles over `queries` timed single-query calls."""

    name: str
    p50_ms: float
    p99_ms: float
    qps: float
    queries: int
    recall_at_10: float | None = None
    song_overlap_at_10: float | None = None
    notes: str = ""


@dataclass
class Tables:
    image_features: np.ndarray  # float32 [images, image_dim]
    image_vectors: np.ndarray  # float32 [images, song_dim] (NE space)
    song_vectors: np.ndarray  # float32 [songs, song_dim]
    query_features: np.ndarray  # float32 [queries, image_dim]
    lyrics: list[str]
    popularity: np.ndarray
    vocab: list[str]
    query_tags: np.ndarray  # float32 [queries, len(vocab)] keyword tag probabilities


@dataclass
class RetrievalResult:
    cases: list[Case]
    build: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)


def _rss_mb() -> float:
    """Current resident memory of this process (MB), from /proc (0 where there is none)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _clustered(rng: np.random.Generator, labels: np.ndarray, centres: np.ndarray, proj: np.ndarray | None,
               noise: float, out_noise: float, chunk: int = 20_000) -> np.ndarray:
    """Rows centre[label] + N(0, noise) in the latent space, mapped by `proj`, plus N(0, out_noise): float32."""
    d = centres.shape[1] if proj is None else proj.shape[1]
    out = np.empty((len(labels), d), dtype=np.float32)
    for s in range(0, len(labels), chunk):
        lab = labels[s:s + chunk]
        z = centres[lab] + np.float32(noise) * rng.standard_normal((len(lab), centres.shape[1]), dtype=np.float32)
        x = z if proj is None else z @ proj
        if out_noise:
            x += np.float32(out_noise) * rng.standard_normal(x.shape, dtype=np.float32)
        out[s:s + chunk] = x
    return out


def synthetic_tables(songs: int, images: int, queries: int, *, song_dim: int = 128, image_dim: int = 1280,
                     latent: int = 64, clusters: int = 1000, vocab: int = 256, tokens: int = 4000,
                     lyric_len: int = 12, seed: int = 0) -> Tables:
    """Clustered tables (see the module doc); image cluster c sits near NE cluster c's songs."""
    if songs < 1 or images < 2 or queries < 1:
        raise Img2SongError(f"bench retrieval: need songs >= 1, images >= 2, queries >= 1 (got {songs}, {images}, "
                            f"{queries})")
    rng = np.random.default_rng(seed)
    clusters = max(1, min(clusters, images // 2))
    proj = rng.standard_normal((latent, image_dim), dtype=np.float32) / np.float32(math.sqrt(latent))
    cnn_centres = np.float32(2.0) * rng.standard_normal((clusters, latent), dtype=np.float32)
    ne_centres = rng.standard_normal((clusters, song_dim), dtype=np.float32)
    img_lab = rng.integers(clusters, size=images)
    image_features = _clustered(rng, img_lab, cnn_centres, proj, 1.0, 0.1)
    query_features = _clustered(rng, rng.integers(clusters, size=queries), cnn_centres, proj, 1.0, 0.1)
    image_vectors = _clustered(rng, img_lab, ne_centres, None, 0.3, 0.0)
    song_vectors = _clustered(rng, rng.integers(clusters, size=songs), ne_centres, None, 0.3, 0.0)
    # lyrics: fixed-width tokens (no token is a substring of another), Zipf frequencies
    names = np.array([f"w{j:05d}" for j in range(tokens)])
    p = 1.0 / np.arange(1, tokens + 1)
    p /= p.sum()
    draws = rng.choice(tokens, size=(songs, lyric_len), p=p)
    lyrics = [" ".join(row) for row in names[draws].tolist()]
    keyword_ids = np.sort(rng.choice(np.arange(10, min(tokens, 10 + 8 * vocab)), size=min(vocab, tokens - 10),
                                     replace=False))
    kw = [str(names[j]) for j in keyword_ids]
    tags = rng.dirichlet(np.full(len(kw), 0.05), size=queries).astype(np.float32)
    popularity = rng.pareto(1.5, size=songs)
    return Tables(image_features, image_vectors, song_vectors, query_features, lyrics, popularity, kw, tags)


def _time(fn: Callable[[int], Any], n: int, warmup: int = 2) -> tuple[np.ndarray, list[Any]]:
    return time_calls(fn, n, warmup)


def _case(name: str, times: np.ndarray, **kw: Any) -> Case:
    lat = Latency.of(times)
    return Case(name, lat.p50_ms, lat.p99_ms, lat.per_s, lat.n, **kw)


def _per_call_ne(t: Tables, q: np.ndarray, k: int, n_images: int, songs_per_image: int) -> np.ndarray:
    """Before the indexes: engine.knn over the raw image table, then over the raw song table, every call."""
    _, rows = knn(q[None, :], t.image_features, n_images + k)
    _, songs = knn(t.image_vectors[rows[0]], t.song_vectors, songs_per_image + k)
    return songs


def _song_lists(lists: SongLists, reach: np.ndarray, full: int, baseline_rows: int,
                echo: Callable[[str], None], progress: bool) -> dict[str, Any]:
    """Fill the lists (the rows the queries reach, or all `full` rows) with the blocked top-k; beside it, in this
    process, today's path before it (faiss IndexFlatL2 search, batches of 1024) on up to `baseline_rows` rows."""
    out: dict[str, Any] = {"song_lists_device": str(lists.device)}
    rows = reach[:baseline_rows]
    if len(rows):
        before = SongLists(m=lists.m, batch=1024, knn_method="faiss").fit(lists.images_, lists.songs_.vectors,
                                                                          rows=[])
        _, wall, cpu = timed(lambda: before.fill(rows))
        out.update({"song_lists_baseline_rows": int(len(rows)), "song_lists_baseline_s": round(wall, 2),
                    "song_lists_baseline_cpu_s": round(cpu, 2),
                    "song_lists_baseline_rows_per_s": round(len(rows) / max(wall, 1e-9), 1)})
    todo = np.arange(full) if full else reach
    _, wall, cpu = timed(lambda: (lists.fill(todo, progress=progress), _sync(lists.device)))
    n_img = len(lists.images_)
    rate = len(todo) / max(wall, 1e-9)
    out.update({"song_lists_rows": int(len(todo)), "song_lists_s": round(wall, 2), "song_lists_cpu_s": round(cpu, 2),
                "song_lists_rows_per_s": round(rate, 1), "song_lists_full": bool(full),
                "song_lists_full_s_extrapolated": round(n_img / rate, 1),
                "song_lists_full_mb": round(n_img * lists.m_ * 12 / 2**20, 1)})
    if len(rows):
        out["song_lists_same_as_baseline"] = bool(np.array_equal(before.index_[rows], lists.index_[rows])
                                                  and np.array_equal(before.dist_[rows], lists.dist_[rows]))
        out["song_lists_speedup"] = round(rate / max(out["song_lists_baseline_rows_per_s"], 1e-9), 2)
    echo(f"song lists [{lists.device}, blocked top-k]: {len(todo)} images in {wall:.1f} s ({cpu:.1f} s CPU, "
         f"{rate:.0f} images/s; all {n_img}: {'measured' if full else f'~{n_img / rate:.0f} s extrapolated'})"
         + (f"; today's faiss path in this process: {out['song_lists_baseline_rows_per_s']:.0f} images/s on "
            f"{len(rows)} rows, x{out['song_lists_speedup']} faster, same answers: "
            f"{'yes' if out['song_lists_same_as_baseline'] else 'NO'}" if len(rows) else ""))
    return out


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        import torch

        torch.cuda.synchronize()


def _ne_cases(t: Tables, ids: list[str], song_ids: list[str], *, k: int, index: str, queries: int,
              baseline_queries: int, full_song_lists: bool, device: str, baseline_rows: int,
              echo: Callable[[str], None], progress: bool) -> tuple[list[Case], dict[str, Any]]:
    """The NE cases: image index, song lists, then per-call exact vs the indexes."""
    build: dict[str, Any] = {}
    cases: list[Case] = []
    images = len(ids)
    n_img, n_song = 5, 2
    rss = _rss_mb()
    ne = NEScorer(n_images=n_img, songs_per_image=n_song, index=index, exact_max=0, max_k=k)
    ne.fit_arrays(ids, t.image_features, t.image_vectors, song_ids, t.song_vectors, song_list_rows=[])
    ix = ne.image_index_
    build.update({"image_index": ix.method_, "image_index_s": round(ix.build_seconds_, 2),
                  "ef_search": ix.ef_search_, "nprobe": ix.nprobe_, "reduce_dim": ix.reduce_dim,
                  "hnsw_m": ix.hnsw_m if ix.method_ == "hnsw" else None,
                  "calibration_recall_at_10": ix.calibration_recall_,
                  "image_index_rss_mb": round(_rss_mb() - rss, 1)})
    echo(f"image index {ix.method_}: built in {ix.build_seconds_:.1f} s, efSearch={ix.ef_search_} "
         f"nprobe={ix.nprobe_}, calibration recall@10 {ix.calibration_recall_:.3f}")
    exact = NEScorer(n_images=n_img, songs_per_image=n_song, index="exact", max_k=k)
    exact.fit_arrays(ids, t.image_features, t.image_vectors, song_ids, t.song_vectors, song_list_rows=[])
    exact.song_lists_ = ne.song_lists_  # one set of song lists for both image indexes
    ne.song_lists_.device = exact.song_lists_.device = device
    # the song lists the queries reach, computed before timing (as a full fit would have)
    reach = np.concatenate([s.image_index_.search(t.query_features, n_img + k)[1].reshape(-1) for s in (ne, exact)])
    reach = np.unique(reach[reach >= 0])
    build.update(_song_lists(ne.song_lists_, reach, images if full_song_lists else 0, baseline_rows, echo, progress))
    qs = [Query(features=f) for f in t.query_features]
    nb = max(1, min(baseline_queries, queries))
    times, _ = _time(lambda j: _per_call_ne(t, t.query_features[j], k, n_img, n_song), nb, warmup=1)
    cases.append(_case("ne/per-call-exact", times, notes="engine.knn on raw tables per call (before the indexes)"))
    n_exact = max(1, min(queries, 50))
    times, exact_recs = _time(lambda j: exact.recommend(qs[j], k), n_exact)
    cases.append(_case("ne/index-exact", times, notes="exact image index (validated once) + song lists"))
    times, approx_recs = _time(lambda j: ne.recommend(qs[j], k), queries)
    truth = exact_knn_ids(t.query_features, t.image_features, 10)
    got = ne.image_index_.search(t.query_features, 10)[1]
    overlap = np.mean([len({r.song_id for r in a} & {r.song_id for r in b}) / k
                       for a, b in zip(approx_recs[:n_exact], exact_recs)])
    cases.append(_case(f"ne/index-{ix.method_}", times, recall_at_10=recall_at(got, truth),
                       song_overlap_at_10=float(overlap),
                       notes=f"{ix.method_} image index (efSearch={ix.ef_search_}, nprobe={ix.nprobe_}, "
                             f"PCA {ix.reduce_dim}) + song lists"))
    return cases, build


def run_retrieval_bench(songs: int = 1_000_000, images: int = 100_000, *, queries: int = 200,
                        baseline_queries: int = 5, k: int = 10, index: str = "hnsw", seed: int = 0,
                        full_song_lists: bool = False, device: str = "cpu", baseline_rows: int = 1024,
                        km_only: bool = False, echo: Callable[[str], None] = print, progress: bool = True) -> RetrievalResult:
    """Build the tables and indexes, time every case; see the module doc."""
    if index not in ("hnsw", "ivf"):
        raise Img2SongError(f"bench retrieval: --index must be hnsw or ivf, got {index!r}")
    resolve_device(device)  # before minutes of table building
    params = {"songs": songs, "images": images, "queries": queries, "baseline_queries": baseline_queries, "k": k,
              "index": index, "seed": seed, "song_dim": 128, "image_dim": 1280, "full_song_lists": full_song_lists,
              "device": device, "baseline_rows": baseline_rows, "km_only": km_only}
    build: dict[str, Any] = {"rss_start_mb": round(_rss_mb(), 1)}
    tic = time.perf_counter()
    t = synthetic_tables(songs, 2 if km_only else images, queries, seed=seed)
    build["tables_s"] = round(time.perf_counter() - tic, 2)
    build["rss_tables_mb"] = round(_rss_mb(), 1)
    images = len(t.image_features)
    echo(f"tables: {songs} songs x 128, {images} images x 1280, {queries} queries ({build['tables_s']} s)")
    ids, song_ids = [f"i{j}" for j in range(images)], [f"s{j}" for j in range(songs)]
    cases: list[Case] = []
    if not km_only:
        ne_c, ne_b = _ne_cases(t, ids, song_ids, k=k, index=index, queries=queries,
                               baseline_queries=baseline_queries, full_song_lists=full_song_lists, device=device,
                               baseline_rows=baseline_rows, echo=echo, progress=progress)
        cases += ne_c
        build.update(ne_b)
    km_c, km_b = km_cases(song_ids, t.lyrics, t.popularity, t.vocab, t.query_tags, queries=queries,
                          baseline_queries=baseline_queries, k=k, timer=_time, case=_case, rss=_rss_mb, echo=echo,
                          progress=progress)
    cases += km_c
    build.update(km_b)
    build["rss_end_mb"] = round(_rss_mb(), 1)
    return RetrievalResult(cases, build, params)


def format_table(result: RetrievalResult, machine: dict[str, Any] | None = None) -> str:
    rows = [("case", "queries", "p50 ms", "p99 ms", "qps", "recall@10", "songs@10", "notes")]
    for c in result.cases:
        rows.append((c.name, str(c.queries), f"{c.p50_ms:.3f}", f"{c.p99_ms:.3f}", f"{c.qps:.1f}",
                     "-" if c.recall_at_10 is None else f"{c.recall_at_10:.3f}",
                     "-" if c.song_overlap_at_10 is None else f"{c.song_overlap_at_10:.3f}", c.notes))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(v.rjust(w) if 0 < i < 7 else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))).rstrip()
             for r in rows]
    lines.insert(1, "-" * max(len(x) for x in lines))
    b = result.build
    parts = []
    if "image_index" in b:
        lists = (f"song lists [{b.get('song_lists_device')}] {b.get('song_lists_rows')} images in "
                 f"{b.get('song_lists_s')} s ({b.get('song_lists_cpu_s')} s CPU), all {result.params.get('images')} "
                 + (f"{b.get('song_lists_s')} s measured" if b.get("song_lists_full")
                    else f"~{b.get('song_lists_full_s_extrapolated')} s") + f" ({b.get('song_lists_full_mb')} MB)")
        if "song_lists_speedup" in b:
            lists += (f", x{b['song_lists_speedup']} today's faiss path ({b['song_lists_baseline_rows_per_s']} "
                      f"images/s), same answers: {'yes' if b['song_lists_same_as_baseline'] else 'NO'}")
        parts += [f"image index {b.get('image_index')} {b.get('image_index_s')} s (+{b.get('image_index_rss_mb')}"
                  f" MB RSS)", lists]
    parts.append(f"keyword index {b.get('keyword_index_keywords')} keywords {b.get('keyword_index_s')} s "
                 f"(+{b.get('keyword_index_rss_mb')} MB; postings {b.get('keyword_postings_s')} s vs "
                 f"{b.get('keyword_index_before_s')} s before, same: "
                 f"{'yes' if b.get('keyword_index_same_postings') else 'NO'})")
    lines.append("build: " + "; ".join(parts) + f"; RSS at end {b.get('rss_end_mb')} MB")
    km = next((c for c in result.cases if c.name == "km/index"), None)
    if km:
        lines.append(f"targets: KM index <= {TARGET_KM_INDEX_S} s: wall "
                     f"{'met' if b.get('keyword_index_s', 1e9) <= TARGET_KM_INDEX_S else 'MISSED'} "
                     f"({b.get('keyword_index_s')} s), CPU "
                     f"{'met' if b.get('keyword_index_cpu_s', 1e9) <= TARGET_KM_INDEX_S else 'MISSED'} "
                     f"({b.get('keyword_index_cpu_s')} s); KM p50 <= "
                     f"{TARGET_KM_P50_MS} ms: {'met' if km.p50_ms <= TARGET_KM_P50_MS else 'MISSED'} "
                     f"({km.p50_ms:.3f} ms)")
    approx = next((c for c in result.cases if c.recall_at_10 is not None), None)
    if approx:
        lines.append(f"targets: NE p50 <= {TARGET_NE_P50_MS} ms: {'met' if approx.p50_ms <= TARGET_NE_P50_MS else 'MISSED'}"
                     f" ({approx.p50_ms:.3f} ms); recall@10 >= {TARGET_RECALL}: "
                     f"{'met' if approx.recall_at_10 >= TARGET_RECALL else 'MISSED'} ({approx.recall_at_10:.3f})")
        base = next((c for c in result.cases if c.name == "ne/per-call-exact"), None)
        if base:
            lines.append(f"NE speed-up over the per-call path in this process: x{base.p50_ms / approx.p50_ms:.0f} "
                         f"(p50)")
    if machine:
        lines.append(f"machine: {machine['cpu']}, {machine['usable_cores']} usable cores, load average "
                     f"{machine.get('load_avg_1min')}, faiss threads {_faiss_threads()}")
    return "\n".join(lines)


def _faiss_threads() -> int:
    return int(faiss.omp_get_max_threads())


def write_json(result: RetrievalResult, path: str | Path, machine: dict[str, Any] | None = None) -> Path:
    doc = {"cases": [asdict(c) for c in result.cases], "build": result.build, "params": result.params,
           "machine": machine or machine_info(), "targets": {"ne_p50_ms": TARGET_NE_P50_MS,
                                                             "recall_at_10": TARGET_RECALL}}
    for c in doc["cases"]:
        for key, v in c.items():
            if isinstance(v, float) and not math.isfinite(v):
                raise Img2SongError(f"bench retrieval: case {c['name']}: field {key!r} is not finite ({v})")
    return atomic.write_json(path, doc)


def bench_retrieval(songs: int = 1_000_000, images: int = 100_000, *, json_out: str | Path | None = None,
                    echo: Callable[[str], None] = print, **kw: Any) -> RetrievalResult:
    """Run, print the table (+ where the JSON went); what `img2song bench retrieval` calls."""
    result = run_retrieval_bench(songs, images, echo=echo, **kw)
    machine = machine_info()
    echo(format_table(result, machine))
    if json_out:
        echo(f"wrote {write_json(result, json_out, machine)}")
    return result
