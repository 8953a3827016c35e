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
from pathlib import Path
from typing import Any

import numpy as np

from engine.lstm.dataset import PairSet, keyword_pairs
from engine.lstm.prepare import image_tag_matrix, run_word_vectors, song_tokens
from engine.lstm.train import LyricTagModel
from engine.lstm.wordvectors import WordVectors
from engine.run import load_training_set
from evaluation.queries import load_eval_queries
from graph.common.atomic import write_json
from graph.common.errors import Img2SongError
from graph.rundir import RunDir

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


def metrics(ranks: np.ndarray, n_items: int) -> dict[str, float]:
    """R@1/5/10 and med_r, plus R@50/R@100 when there are more than 100 candidates."""
    ks = BASE_KS + (LARGE_KS if n_items > 100 else ())
    out = {f"R@{k}": round(recall_at_k(ranks, k), 2) for k in ks}
    out["med_r"] = median_rank(ranks)
    return out


def both_directions(scores: np.ndarray, pairs: Sequence[tuple[int, int]]) -> tuple[dict[str, dict], dict[str, Any]]:
    """Metrics of a [n_images, n_songs] score matrix given (image row, song column) correct pairs."""
    rel_i = [[] for _ in range(scores.shape[0])]
    rel_s = [[] for _ in range(scores.shape[1])]
    for i, s in pairs:
        rel_i[i].append(s)
        rel_s[s].append(i)
    r_i = closest_ranks(scores, rel_i)
    r_s = closest_ranks(scores.T, rel_s)
    res = {"image2song": metrics(r_i, scores.shape[1]), "song2image": metrics(r_s, scores.shape[0])}
    detail = {"image2song_queries": int((r_i > 0).sum()), "song2image_queries": int((r_s > 0).sum()),
              "chance_image2song_R@10": round(float(np.mean([chance_recall(scores.shape[1], len(set(r)), 10)
                                                             for r in rel_i if r])), 2),
              "chance_song2image_R@10": round(float(np.mean([chance_recall(scores.shape[0], len(set(r)), 10)
                                                             for r in rel_s if r])), 2)}
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


def image_disjoint_split(ps: PairSet, seed: int = 0) -> Split:
    """dataset§: one held-out image per song (greedy: a song already covered by a held-out image adds none);
    every pair with a held-out image leaves training; candidates are all paired songs."""
    rng = np.random.default_rng(seed)
    test: set[str] = set()
    for sid in rng.permutation(ps.songs).tolist():
        imgs = ps.song_images[sid]
        if not test.intersection(imgs):
            test.add(imgs[int(rng.integers(len(imgs)))])
    train = [(i, s) for i, s in ps.pairs if i not in test]
    test_pairs = [(i, s) for i, s in ps.pairs if i in test]
    return Split(IMAGE_DISJOINT, train, sorted(test), list(ps.songs), test_pairs,
                 {"songs_without_training_pairs": len(set(ps.songs) - {s for _, s in train})})


# ---------------------------------------------------------------------------------------------- evaluation
def evaluate_split(split: Split, song_tokens: Mapping[str, Sequence[str]], image_tags: Mapping[str, np.ndarray],
                   tag_vocab: Sequence[str], word_vectors: WordVectors, variants: Sequence[str] = VARIANTS,
                   progress: bool = True, **model_params: Any) -> tuple[dict[str, dict], dict[str, Any]]:
    """Train each variant on the split's training pairs and score its test images against its test songs."""
    out, details = {}, {"train_pairs": len(split.train_pairs), "test_images": len(split.test_images),
                        "test_songs": len(split.test_songs), **split.notes}
    ii = {i: k for k, i in enumerate(split.test_images)}
    ss = {s: k for k, s in enumerate(split.test_songs)}
    idx_pairs = [(ii[i], ss[s]) for i, s in split.test_pairs]
    tags = np.vstack([image_tags[i] for i in split.test_images])
    for variant in variants:
        t0 = time.perf_counter()
        model = LyricTagModel(attention=(variant == "attention"), progress=progress, **model_params)
        model.fit(split.train_pairs, song_tokens, image_tags, tag_vocab, word_vectors)
        scores = model.score(tags, [song_tokens[s] for s in split.test_songs], progress=progress)
        out[variant], d = both_directions(scores, idx_pairs)
        details[variant] = {**d, "epochs_run": len(model.history_), "best_epoch": getattr(model, "best_epoch_", None),
                            "fit_seconds": round(model.fit_seconds_, 1),
                            "total_seconds": round(time.perf_counter() - t0, 1)}
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
        res[split.name], details[split.name] = evaluate_split(split, song_tokens, image_tags, tag_vocab, word_vectors,
                                                              variants, progress=progress, seed=seed, **model_params)
    return RetrievalResult(res, details)


def retrieval_result(run: RunDir | str | Path, word_vectors: str | Path | None = None, progress: bool = True,
                     **kw: Any) -> RetrievalResult:
    """run_retrieval on a run directory (all images of keywords.json, train and query alike: this protocol makes
    its own splits); writes <run>/lstm/retrieval.json."""
    run = RunDir.of(run)
    ts = load_training_set(run)
    image_kw = {**ts.image_keywords, **load_eval_queries(run).weights}
    tokens = song_tokens(ts)
    wv = run_word_vectors(ts, tokens, word_vectors)
    if word_vectors is None and ts.word_vectors is None:  # kept in the run, so that later stages reuse them
        wv.save(run.word_vectors)
    tags = image_tag_matrix(ts, [i for i in image_kw if ts.tags is not None and i in ts.tags])
    result = run_retrieval(tokens, image_kw, ts.song_keywords, tags, ts.tag_vocab, wv, progress=progress, **kw)
    result.details["written"] = str(write_json(run.lstm_retrieval,
                                               {"retrieval": result.metrics, "details": result.details}))
    return result


def retrieval_report(run_dir: str | Path, **kw: Any) -> dict[str, dict]:
    """{split: {"baseline"|"attention": {"image2song"|"song2image": {"R@1","R@5","R@10",...,"med_r"}}}}."""
    return retrieval_result(run_dir, **kw).metrics


# ------------------------------------------------------------------------------------------------ rendering
def _fmt(x: Any) -> str:
    return "—" if x is None or (isinstance(x, float) and np.isnan(x)) else (f"{x:.2f}" if isinstance(x, float) else str(x))


def render_markdown(report: Mapping[str, Mapping], details: Mapping[str, Any] | None = None) -> str:
    """Markdown tables of our R@K / med r beside the paper's Table 2 (obj-attr columns)."""
    lines = ["### image2song retrieval (attention bi-LSTM)", "",
             ("R@K = % of queries whose closest correct item ranks in the top K; med r = median of that rank "
              "(ties count against the model). Cosine similarity in tag space."), ""]
    for split, by_variant in report.items():
        cols = sorted({k for v in by_variant.values() for d in v.values() for k in d if k.startswith("R@")},
                      key=lambda k: int(k[2:])) + ["med_r"]
        lines += [f"**{split}**" + (f" — {details[split]['test_images']} test images, {details[split]['test_songs']}"
                                      f" candidate songs" if details and split in details else ""), "",
                  "| model | direction | " + " | ".join(cols) + " |", "|---|---|" + "---|" * len(cols)]
        for variant, dirs in by_variant.items():
            for direction, m in dirs.items():
                lines.append(f"| ours-{variant} | {direction} | " + " | ".join(_fmt(m.get(c)) for c in cols) + " |")
        lines.append("")
    lines += ["**Paper Table 2** (Zhou et al. 2017, image2song, obj-attr tags; Shuttersong, not our corpus)", ""]
    for ds, by_model in PAPER_TABLE2.items():
        cols = list(next(iter(by_model.values())))
        lines += [f"_{ds}_", "", "| model | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        lines += [f"| {m} | " + " | ".join(_fmt(float(v[c])) for c in cols) + " |" for m, v in by_model.items()]
        lines.append("")
    return "\n".join(lines)
