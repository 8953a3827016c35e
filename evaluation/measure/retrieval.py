"""image2song retrieval protocol (Zhou et al. §5): keyword-shared pairs, dataset†/§-style splits, R@K, median rank.

Metric definitions (paper §5.1). For a query, items are ranked by cosine similarity (higher first); its rank is
the position of the closest correct item: 1 + the number of wrong items scoring at least as high as the best
correct one (ties count against the model, so a constant scorer gets the worst rank). R@K = percentage of
queries whose rank <= K; med_r = median of the ranks. Queries without a correct item among the candidates are
left out and counted in the details.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from math import comb
from typing import Any

import numpy as np

from engine.lstm.dataset import PairSet, keyword_pairs
from engine.lstm.scoring import build_index
from engine.lstm.train import LyricTagModel
from engine.lstm.wordvectors import WordVectors
from graph.common.errors import Img2SongError

SONG_DISJOINT = "song_disjoint"  # like the paper's dataset†: held-out songs with all their images
IMAGE_DISJOINT = "image_disjoint"  # like dataset§: same songs, one held-out image per song
VARIANTS = ("baseline", "attention")
DIRECTIONS = ("image2song", "song2image")
BASE_KS = (1, 5, 10)
LARGE_KS = (50, 100)  # also reported when a direction ranks more than 100 candidates

# Paper Table 2 (Zhou et al., "Image2song: song retrieval via bridging image content and lyric words", ICCV
# 2017), image2song, obj-attr-tags columns (both tag kinds, the setting closest to our keyword-space tags).
# dataset† reports R@1/5/10, dataset§ R@10/50/100; percentages; Med r as printed.
PAPER_TABLE2 = {
    "dataset† (song-disjoint, 100 test songs)": {
        "Our (baseline)": {"R@1": 2.2, "R@5": 7.6, "R@10": 14.8, "med_r": 43.30},
        "Our-attention": {"R@1": 2.6, "R@5": 9.4, "R@10": 16.8, "med_r": 41.50},
    },
    "dataset§ (image-disjoint, 586 songs)": {
        "Our (baseline)": {"R@10": 4.94, "R@50": 15.36, "R@100": 28.33, "med_r": 240.00},
        "Our-attention": {"R@10": 5.63, "R@50": 17.58, "R@100": 29.35, "med_r": 233.82},
    },
}


# ------------------------------------------------------------------------------------------------- metrics
def closest_ranks(scores: np.ndarray, relevant: Sequence[Sequence[int]]) -> np.ndarray:
    """1-based rank of the best-scored correct item per query row (-1 where the query has no correct item)."""
    scores = np.asarray(scores, dtype=np.float64)
    ranks = np.full(len(scores), -1, dtype=np.int64)
    for q, rel in enumerate(relevant):
        rel = np.asarray(sorted(set(rel)), dtype=np.int64)
        if len(rel) == 0:
            continue
        best = scores[q, rel].max()
        wrong = np.ones(scores.shape[1], bool)
        wrong[rel] = False
        ranks[q] = 1 + int((scores[q, wrong] >= best).sum())
    return ranks


def recall_at_k(ranks: np.ndarray, k: int) -> float:
    """Percentage of queries whose closest correct item is in the top k (ranks < 1 are ignored)."""
    r = np.asarray(ranks)
    r = r[r >= 1]
    return float(100.0 * (r <= k).mean()) if len(r) else float("nan")


def median_rank(ranks: np.ndarray) -> float:
    r = np.asarray(ranks)
    r = r[r >= 1]
    return float(np.median(r)) if len(r) else float("nan")


def chance_recall(n_items: int, n_relevant: int, k: int) -> float:
    """Expected R@k (percent) of a random ranking: 1 − C(n−m, k)/C(n, k)."""
    k = min(k, n_items)
    return 100.0 * (1.0 - comb(n_items - n_relevant, k) / comb(n_items, k))


def bootstrap_interval(values: np.ndarray, stat=np.mean, n_boot: int = 1000, seed: int = 0,
                       level: float = 0.95) -> list[float]:
    """Percentile bootstrap interval of `stat` over queries (resampled with replacement, seeded)."""
    v = np.asarray(values, dtype=np.float64)
    if len(v) == 0:
        return [float("nan"), float("nan")]
    idx = np.random.default_rng(seed).integers(0, len(v), (n_boot, len(v)))
    boots = np.array([stat(v[row]) for row in idx]) if stat is not np.mean else v[idx].mean(1)
    a = (1 - level) / 2
    return [round(float(x), 2) for x in np.quantile(boots, [a, 1 - a])]


def metrics(ranks: np.ndarray, n_items: int, n_relevant: Sequence[int] | None = None) -> dict[str, Any]:
    """R@1/5/10 and med_r (+ R@50/R@100 beyond 100 candidates), each with a 95 % bootstrap interval over queries
    ("ci"), and the exact expected R@K of a random ranking given each query's number of correct items ("chance")."""
    ks = BASE_KS + (LARGE_KS if n_items > 100 else ())
    r = np.asarray(ranks)
    valid = r >= 1
    out: dict[str, Any] = {f"R@{k}": round(recall_at_k(r, k), 2) for k in ks}
    out["med_r"] = median_rank(r)
    out["ci"] = {f"R@{k}": bootstrap_interval(100.0 * (r[valid] <= k)) for k in ks}
    out["ci"]["med_r"] = bootstrap_interval(r[valid], stat=np.median, n_boot=500)
    if n_relevant is not None:
        m = np.asarray(n_relevant)[valid]
        out["chance"] = {f"R@{k}": round(float(np.mean([chance_recall(n_items, int(x), k) for x in m])), 2)
                         if len(m) else float("nan") for k in ks}
    out["queries"] = int(valid.sum())
    return out


def keyword_relevance(image_ids: Sequence[str], song_ids: Sequence[str],
                      image_keywords: Mapping[str, Mapping[str, float]],
                      song_keywords: Mapping[str, Mapping[str, float]]) -> list[tuple[int, int]]:
    """(image row, song column) for every image and candidate song sharing a keyword: what a pair means, since the
    pairs are drawn from shared keywords (a song not paired with an image but sharing its keyword is as right)."""
    by_kw: dict[str, list[int]] = {}
    for c, sid in enumerate(song_ids):
        for kw in song_keywords.get(sid, {}):
            by_kw.setdefault(kw, []).append(c)
    return sorted({(r, c) for r, iid in enumerate(image_ids) for kw in image_keywords.get(iid, {})
                   for c in by_kw.get(kw, ())})


def both_directions(scores: np.ndarray, pairs: Sequence[tuple[int, int]]) -> tuple[dict[str, dict], dict[str, Any]]:
    """Metrics of a [n_images, n_songs] score matrix given (image row, song column) correct pairs."""
    rel_i = [[] for _ in range(scores.shape[0])]
    rel_s = [[] for _ in range(scores.shape[1])]
    for i, s in pairs:
        rel_i[i].append(s)
        rel_s[s].append(i)
    r_i = closest_ranks(scores, rel_i)
    r_s = closest_ranks(scores.T, rel_s)
    res = {"image2song": metrics(r_i, scores.shape[1], [len(set(r)) for r in rel_i]),
           "song2image": metrics(r_s, scores.shape[0], [len(set(r)) for r in rel_s])}
    detail = {"image2song_queries": int((r_i > 0).sum()), "song2image_queries": int((r_s > 0).sum()),
              "chance_image2song_R@10": res["image2song"]["chance"]["R@10"],
              "chance_song2image_R@10": res["song2image"]["chance"]["R@10"],
              "image2song_ranks": r_i[r_i > 0].tolist()}
    return res, detail


# -------------------------------------------------------------------------------------------------- splits
@dataclass
class Split:
    name: str
    train_pairs: list[tuple[str, str]]
    test_images: list[str]
    test_songs: list[str]
    test_pairs: list[tuple[str, str]]
    notes: dict[str, Any] = field(default_factory=dict)


def song_disjoint_split(ps: PairSet, n_test_songs: int = 100, max_fraction: float = 0.2, seed: int = 0,
                        strict_images: bool = False) -> Split:
    """dataset†: held-out songs with all their images. Unlike Shuttersong an image here can pair with several
    songs; by default its pairs with training songs stay in training (counted), `strict_images` drops them."""
    rng = np.random.default_rng(seed)
    n = min(n_test_songs, max(2, round(max_fraction * len(ps.songs))))
    test_songs = sorted(rng.choice(ps.songs, size=n, replace=False).tolist())
    ts = set(test_songs)
    test_images = sorted({i for i, s in ps.pairs if s in ts})
    ti = set(test_images)
    train = [(i, s) for i, s in ps.pairs if s not in ts and not (strict_images and i in ti)]
    test = [(i, s) for i, s in ps.pairs if s in ts]
    shared = sum(1 for i, s in ps.pairs if s not in ts and i in ti)
    return Split(SONG_DISJOINT, train, test_images, test_songs, test,
                 {("dropped_" if strict_images else "") + "train_pairs_with_test_images": shared})


def image_disjoint_split(ps: PairSet, seed: int = 0, fraction: float = 0.2, min_test: int = 200) -> Split:
    """dataset§: held-out images (`fraction` of the paired images, at least `min_test` while half stay for
    training); every pair with a held-out image leaves training; candidates are all paired songs."""
    rng = np.random.default_rng(seed)
    n = min(len(ps.images) // 2, max(min_test, round(fraction * len(ps.images))))
    test = set(rng.choice(ps.images, size=n, replace=False).tolist())
    train = [(i, s) for i, s in ps.pairs if i not in test]
    test_pairs = [(i, s) for i, s in ps.pairs if i in test]
    return Split(IMAGE_DISJOINT, train, sorted(test), list(ps.songs), test_pairs,
                 {"songs_without_training_pairs": len(set(ps.songs) - {s for _, s in train})})


# ---------------------------------------------------------------------------------------------- evaluation
def evaluate_split(split: Split, song_tokens: Mapping[str, Sequence[str]], image_tags: Mapping[str, np.ndarray],
                   tag_vocab: Sequence[str], word_vectors: WordVectors, variants: Sequence[str] = VARIANTS,
                   progress: bool = True, relevance: Sequence[tuple[int, int]] | None = None,
                   **model_params: Any) -> tuple[dict[str, dict], dict[str, Any]]:
    """Train each variant on the split's training pairs and score its test images against its test songs.

    `relevance` ((image row, song column) correct items, e.g. keyword_relevance) replaces the split's test pairs."""
    out, details = {}, {"train_pairs": len(split.train_pairs), "test_images": len(split.test_images),
                        "test_songs": len(split.test_songs), **split.notes}
    ii = {i: k for k, i in enumerate(split.test_images)}
    ss = {s: k for k, s in enumerate(split.test_songs)}
    idx_pairs = list(relevance) if relevance is not None else [(ii[i], ss[s]) for i, s in split.test_pairs]
    tags = np.vstack([image_tags[i] for i in split.test_images])
    ranks = {}
    # lyrics training may read (a "catalogue" negative pool draws from them): all but the songs only the test pairs
    # name, which stay unseen on the song-disjoint split
    test_only = set(split.test_songs) - {s for _, s in split.train_pairs}
    train_tokens = {s: t for s, t in song_tokens.items() if s not in test_only}
    for variant in variants:
        t0 = time.perf_counter()
        model = LyricTagModel(attention=(variant == "attention"), progress=progress, **model_params)
        model.fit(split.train_pairs, train_tokens, image_tags, tag_vocab, word_vectors)
        scores = build_index(model, [song_tokens[s] for s in split.test_songs]).score(tags)
        out[variant], d = both_directions(scores, idx_pairs)
        ranks[variant] = np.asarray(d.pop("image2song_ranks"))
        details[variant] = {**d, "epochs_run": len(model.history_), "best_epoch": getattr(model, "best_epoch_", None),
                            "fit_seconds": round(model.fit_seconds_, 1),
                            "total_seconds": round(time.perf_counter() - t0, 1)}
    if len(ranks) == 2:  # same queries, so a paired bootstrap of the R@10 difference
        diff = 100.0 * ((ranks["attention"] <= 10).astype(float) - (ranks["baseline"] <= 10))
        details["attention_minus_baseline_R@10"] = {"mean": round(float(diff.mean()), 2),
                                                    "ci": bootstrap_interval(diff)}
    return out, details


@dataclass
class RetrievalResult:
    metrics: dict[str, dict]  # {split: {variant: {direction: {R@K..., med_r}}}}
    details: dict[str, Any]


def run_retrieval(song_tokens: Mapping[str, Sequence[str]], image_keywords: Mapping[str, Mapping[str, float]],
                  song_keywords: Mapping[str, Mapping[str, float]], image_tags: Mapping[str, np.ndarray],
                  tag_vocab: Sequence[str], word_vectors: WordVectors, seed: int = 0, songs_per_keyword: int = 8,
                  images_per_song: int = 5, min_images: int = 2, variants: Sequence[str] = VARIANTS,
                  progress: bool = True, **model_params: Any) -> RetrievalResult:
    """The whole protocol on plain inputs: pairs -> two splits -> both variants -> metrics."""
    usable = [i for i in image_keywords if i in image_tags]
    ps = keyword_pairs(image_keywords, song_keywords, songs_per_keyword, images_per_song, min_images, images=usable)
    if len(ps.songs) < 4:
        raise Img2SongError(f"retrieval: only {len(ps.songs)} songs have >= {min_images} keyword-linked images")
    res: dict[str, dict] = {}
    details: dict[str, Any] = {"pairs": ps.counts, "songs": len(ps.songs), "images": len(ps.images),
                               "images_without_tag_vector": len(image_keywords) - len(usable),
                               "word_vectors": word_vectors.source}
    for split in (song_disjoint_split(ps, seed=seed), image_disjoint_split(ps, seed=seed)):
        rel = keyword_relevance(split.test_images, split.test_songs, image_keywords, song_keywords)
        res[split.name], details[split.name] = evaluate_split(split, song_tokens, image_tags, tag_vocab, word_vectors,
                                                              variants, progress=progress, relevance=rel, seed=seed,
                                                              **model_params)
    return RetrievalResult(res, details)


def _fmt(x: Any) -> str:
    return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else (f"{x:.2f}" if isinstance(x, float) else str(x))


def _cell(m: Mapping[str, Any], col: str) -> str:
    """A figure with its bootstrap interval when there is one: `16.40 [12.10–20.30]`."""
    ci = m.get("ci", {}).get(col)
    return _fmt(m.get(col)) + (f" [{_fmt(float(ci[0]))}–{_fmt(float(ci[1]))}]" if ci else "")


def render_markdown(report: Mapping[str, Mapping], details: Mapping[str, Any] | None = None) -> str:
    """Markdown tables of our R@K / med r beside the paper's Table 2 (obj-attr columns)."""
    lines = ["### image2song retrieval (attention bi-LSTM)", "",
             ("R@K = % of queries whose closest correct item ranks in the top K; med r = median of that rank "
              "(ties count against the model). Cosine similarity in tag space. A candidate is correct when it "
              "shares a keyword with the query (what a training pair means). [a–b]: 95 % bootstrap interval over "
              "queries; chance: exact expected R@K of a random ranking (hypergeometric, per query's correct count)."),
             ""]
    for split, by_variant in report.items():
        cols = sorted({k for v in by_variant.values() for d in v.values() for k in d if k.startswith("R@")},
                      key=lambda k: int(k[2:])) + ["med_r"]
        lines += [f"**{split}**" + (f" — {details[split]['test_images']} test images, {details[split]['test_songs']}"
                                      f" candidate songs" if details and split in details else ""), "",
                  "| model | direction | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
        for variant, dirs in by_variant.items():
            for direction, m in dirs.items():
                lines.append(f"| ours-{variant} | {direction} | " + " | ".join(_cell(m, c) for c in cols) + " |")
        for direction, m in next(iter(by_variant.values())).items():
            if "chance" in m:
                lines.append(f"| chance (exact) | {direction} | "
                             + " | ".join(_fmt(m["chance"].get(c)) for c in cols) + " |")
        diff = (details or {}).get(split, {}).get("attention_minus_baseline_R@10")
        if diff:
            lines += ["", f"attention − baseline, image2song R@10: {diff['mean']:+.2f} points "
                          f"(paired bootstrap 95 % interval {diff['ci'][0]:+.2f} … {diff['ci'][1]:+.2f})"]
        lines.append("")
    lines += ["**Paper Table 2** (Zhou et al. 2017, image2song, obj-attr tags; Shuttersong, not our corpus)", ""]
    for ds, by_model in PAPER_TABLE2.items():
        cols = list(next(iter(by_model.values())))
        lines += [f"_{ds}_", "", "| model | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        lines += [f"| {m} | " + " | ".join(_fmt(float(v[c])) for c in cols) + " |" for m, v in by_model.items()]
        lines.append("")
    return "\n".join(lines)
