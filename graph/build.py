"""Corpus -> tripartite image-keyword-song network, with query images held out of it for evaluation."""
from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from graph.common.atomic import remove_stale_temps, write_json
from graph.common.errors import Img2SongError
from graph.corpus import Corpus
from graph.keywords import extract_keywords, tokenize, weigh
from graph.network import Kind, Network, vertex_id
from graph.rundir import RunDir

DEFAULT_NUM_KEYWORDS = 72  # the paper's keyword count, used when the corpus fixes no vocabulary


@dataclass
class BuildResult:
    network: Network
    image_keywords: dict[str, dict[str, float]]  # every usable image (train and query) -> keyword -> weight
    song_keywords: dict[str, dict[str, float]]
    train_image_ids: list[str]
    query_image_ids: list[str]
    vocabulary: list[str]
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    corpus_root: Path | None = None  # recorded in the run manifest so that later stages find the corpus
    params: dict[str, Any] = field(default_factory=dict)  # holdout, seed, scheme

    def stats(self) -> dict[str, Any]:
        s = self.network.stats()
        s["query_images"] = len(self.query_image_ids)
        s["skipped"] = dict(self.skipped)
        s["build_seconds"] = round(self.seconds, 3)
        return s

    def save(self, out_dir: RunDir | str | Path) -> dict[str, Path]:
        """Write network.npz, network_stats.json, split.json, keywords.json (each atomically) and record the
        build in the run manifest (run.json), so that every later stage and command can start from this run."""
        run = RunDir.of(out_dir)
        run.path.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(run.path)
        paths = {"network": self.network.save(run.network)}
        docs = {
            run.network_stats: self.stats(),
            run.split: {"train": self.train_image_ids, "query": self.query_image_ids},
            run.keywords: {"vocabulary": self.vocabulary, "images": self.image_keywords,
                           "songs": self.song_keywords},
        }
        for path, doc in docs.items():
            paths[path.name] = write_json(path, doc)
        top = {"corpus": str(self.corpus_root.resolve())} if self.corpus_root is not None else {}
        paths["run"] = run.record("build-graph", self.params, {k: str(v) for k, v in paths.items()}, **top)
        return paths


def select_vocabulary(corpus: Corpus, n: int = DEFAULT_NUM_KEYWORDS) -> list[str]:
    """The corpus's keywords.txt, else the n most frequent content words of the lyrics (the paper's rule)."""
    if corpus.keywords:
        return list(corpus.keywords)
    counts: Counter[str] = Counter()
    for song in corpus.songs:
        counts.update(set(tokenize(song.lyrics, song.language)))
    return [w for w, _ in counts.most_common(n)]


def text_keywords(text: str, language: str, vocab: set[str], lexicon: dict[str, list[str]]) -> Counter[str]:
    """Vocabulary keywords in a text: Chinese segmented with jieba; English words directly or through the lexicon."""
    if language == "zh":
        return extract_keywords(text, "zh", vocab)
    c: Counter[str] = Counter()
    for w in tokenize(text, language):
        c.update({w} if w in vocab else {k for k in lexicon.get(w, ()) if k in vocab})
    return c


def image_keyword_counts(corpus: Corpus, vocab: set[str]) -> dict[str, Counter[str]]:
    """Keywords of each image from its caption and its tags (English tags reach Chinese keywords via the lexicon)."""
    out: dict[str, Counter[str]] = {}
    for img in corpus.images:
        c = text_keywords(img.caption, img.language, vocab, corpus.lexicon) if img.caption else Counter()
        for tag in img.tags:
            if img.tag_language != "zh" and tag.lower() in corpus.lexicon:  # multi-word tags as listed
                c.update({k for k in corpus.lexicon[tag.lower()] if k in vocab})
            else:
                c.update(text_keywords(tag, img.tag_language, vocab, corpus.lexicon))
        out[img.id] = c
    return out


def split_queries(image_kws: dict[str, dict[str, float]], holdout: float, seed: int,
                  min_train_per_keyword: int = 2) -> tuple[list[str], list[str]]:
    """Hold out a seeded fraction of images as queries, keeping >= min_train_per_keyword train images per keyword."""
    if not 0.0 <= holdout < 1.0:
        raise Img2SongError(f"holdout must be in [0, 1), got {holdout}")
    ids = sorted(image_kws)
    rng = random.Random(seed)
    rng.shuffle(ids)
    left = Counter(k for i in ids for k in image_kws[i])
    target = int(round(holdout * len(ids)))
    query: list[str] = []
    for i in ids:
        if len(query) >= target:
            break
        if all(left[k] > min_train_per_keyword for k in image_kws[i]):
            query.append(i)
            for k in image_kws[i]:
                left[k] -= 1
    qset = set(query)
    return sorted(i for i in image_kws if i not in qset), sorted(query)


def build_network(corpus: Corpus, holdout: float = 0.2, seed: int = 0, scheme: str = "count",
                  vocabulary: list[str] | None = None) -> BuildResult:
    """Typed tripartite network: song-keyword (lyric relevance) and image-keyword (tag relevance) edges only."""
    t0 = time.perf_counter()
    vocab_list = vocabulary or select_vocabulary(corpus)
    vocab = set(vocab_list)
    skipped: Counter[str] = Counter()

    song_counts = [text_keywords(s.lyrics, s.language, vocab, corpus.lexicon)
                   for s in tqdm(corpus.songs, desc="song keywords", unit="song", leave=False)]
    song_weights = weigh(song_counts, scheme)
    song_kws: dict[str, dict[str, float]] = {}
    for song, w in zip(corpus.songs, song_weights):
        if w:
            song_kws[song.id] = {k: float(v) for k, v in sorted(w.items())}
        else:
            skipped["song with no keyword"] += 1

    img_counts = image_keyword_counts(corpus, vocab)
    img_kws: dict[str, dict[str, float]] = {}
    for img in corpus.images:
        if img_counts[img.id]:
            img_kws[img.id] = {k: float(v) for k, v in sorted(img_counts[img.id].items())}
        else:
            skipped["image with no keyword"] += 1
    train, query = split_queries(img_kws, holdout, seed)

    ids: list[str] = []
    kinds: list[int] = []
    labels: list[str] = []
    for img_id in train:
        ids.append(vertex_id(Kind.IMAGE, img_id)); kinds.append(Kind.IMAGE)
        labels.append(corpus.image(img_id).file)
    for kw in vocab_list:
        ids.append(vertex_id(Kind.KEYWORD, kw)); kinds.append(Kind.KEYWORD); labels.append(kw)
    for song in corpus.songs:
        if song.id in song_kws:
            ids.append(vertex_id(Kind.SONG, song.id)); kinds.append(Kind.SONG)
            labels.append(f"{song.title} · {song.artist}" if song.artist else song.title)
    index = {v: i for i, v in enumerate(ids)}
    edges: list[tuple[int, int]] = []
    weights: list[float] = []
    for kind, table, keys in ((Kind.IMAGE, img_kws, train), (Kind.SONG, song_kws, list(song_kws))):
        for key in keys:
            a = index[vertex_id(kind, key)]
            for kw, w in table[key].items():
                edges.append((a, index[vertex_id(Kind.KEYWORD, kw)]))
                weights.append(w)
    net = Network(ids, np.array(kinds, np.int8), labels, np.array(edges, np.int64).reshape(-1, 2),
                  np.array(weights, np.float32), directed=False)
    return BuildResult(net, img_kws, song_kws, train, query, vocab_list, dict(skipped),
                       time.perf_counter() - t0, corpus_root=corpus.root,
                       params={"holdout": holdout, "seed": seed, "scheme": scheme})
