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

from graph import edge_model
from graph.bridge import Bridge
from graph.captions import image_keywords, prepare_images
from graph.common.errors import Img2SongError
from graph.context import ContextParams, context_edges
from graph.corpus import Corpus
from graph.corpus_files import corpus_fingerprint
from graph.keywords import weigh
from graph.network import Kind, Network, vertex_id
from graph.occurrences import Matcher
from graph.vocabulary import KeywordSelection, SelectionParams, select_keywords

DEFAULT_NUM_KEYWORDS = SelectionParams.num  # used when the corpus fixes no vocabulary (None: the coverage-driven count)


@dataclass(frozen=True)
class Split:
    """Training images (in the network) and held-out query images (for evaluation only)."""

    train: list[str]
    query: list[str]


@dataclass(frozen=True)
class KeywordFile:
    """The vocabulary (tag-vector order) and keyword weights of every image and song (a run's keywords.json)."""

    vocabulary: list[str]
    images: dict[str, dict[str, float]]
    songs: dict[str, dict[str, float]]


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
    selection: KeywordSelection | None = None  # set when the vocabulary was selected here (no keywords.txt)
    warnings: list[str] = field(default_factory=list)
    corpus_fingerprint: dict[str, str | None] | None = None  # content hashes checked when a stage finds the corpus
    song_words: dict[str, dict[str, float]] = field(default_factory=dict)  # song -> lyric word (Kind.WORD) -> weight
    totals: dict[str, int] = field(default_factory=dict)  # songs and images in the corpus

    def reachability(self) -> dict[str, Any]:
        """Shares of the catalogue with edges: a song or image without one can never be recommended or matched."""
        songs = self.totals.get("songs", 0)
        images = self.totals.get("images", 0)
        with_edges = set(self.song_keywords) | set(self.song_words)
        only_words = set(self.song_words) - set(self.song_keywords)
        share = lambda a, b: round(a / b, 4) if b else 0.0
        return {"songs": songs, "songs_with_edges": len(with_edges), "songs_with_keyword_edges": len(self.song_keywords),
                "songs_with_only_word_edges": len(only_words),
                "song_share_with_edges": share(len(with_edges), songs),
                "song_share_with_keywords": share(len(self.song_keywords), songs),
                "images": images, "images_with_keywords": len(self.image_keywords),
                "image_share_with_keywords": share(len(self.image_keywords), images),
                "train_images_in_network": len(self.train_image_ids)}

    def reach_line(self) -> str:
        r = self.reachability()
        return (f"reachability: {r['songs_with_edges']}/{r['songs']} songs ({r['song_share_with_edges']:.1%}) have "
                f"edges ({r['songs_with_keyword_edges']} through keywords, {r['songs_with_only_word_edges']} only "
                f"through lyric words); {r['images_with_keywords']}/{r['images']} images "
                f"({r['image_share_with_keywords']:.1%}) reach a keyword")

    def per_keyword(self) -> dict[str, dict[str, int]]:
        """keyword -> songs, train images and query images linked to it."""
        out = {kw: {"songs": 0, "train_images": 0, "query_images": 0} for kw in self.vocabulary}
        for kws in self.song_keywords.values():
            for kw in kws:
                out[kw]["songs"] += 1
        for key, ids in (("train_images", self.train_image_ids), ("query_images", self.query_image_ids)):
            for i in ids:
                for kw in self.image_keywords[i]:
                    out[kw][key] += 1
        return out

    def stats(self) -> dict[str, Any]:
        s = self.network.stats()
        s["query_images"] = len(self.query_image_ids)
        s["skipped"] = dict(self.skipped)
        s["build_seconds"] = round(self.seconds, 3)
        s["vocabulary_source"] = "selected (no keywords.txt)" if self.selection else "given"
        s["per_keyword"] = self.per_keyword()
        s["warnings"] = list(self.warnings)
        s["reachability"] = self.reachability()
        if self.selection is not None:
            s["selection"] = {k: v for k, v in self.selection.to_dict().items() if k != "keywords"}
        return s

    @property
    def split(self) -> Split:
        return Split(self.train_image_ids, self.query_image_ids)

    @property
    def keyword_file(self) -> KeywordFile:
        return KeywordFile(self.vocabulary, self.image_keywords, self.song_keywords)


def select_vocabulary(corpus: Corpus, n: int | None = DEFAULT_NUM_KEYWORDS, bridge: Bridge | None = None) -> list[str]:
    """The corpus's keywords.txt, else the keywords graph.vocabulary.select_keywords proposes."""
    if corpus.keywords:
        return list(corpus.keywords)
    return select_keywords(corpus, num=n, bridge=bridge).keywords


def text_keywords(text: str, vocab: set[str] | Matcher) -> Counter[str]:
    """Vocabulary keywords in a lyric text and their counts by graph.occurrences' rule: exactly what KM counts and
    what the ground truth calls a hit (a lyric is matched in its own script: no bridge between languages here)."""
    return (vocab if isinstance(vocab, Matcher) else Matcher(sorted(vocab))).counts(text)


def image_keyword_counts(corpus: Corpus, vocab: set[str], bridge: Bridge | None = None) -> dict[str, Counter[str]]:
    """Keywords of each image from its caption and its tags (English tags reach Chinese keywords and Chinese tags
    English ones through the bridge: graph.bridge; file-name captions made readable: graph.captions)."""
    bridge = bridge or Bridge.for_corpus(corpus)
    prepare_images(bridge, corpus.images)  # the edge model's encoder: every description in one batch
    return {img.id: image_keywords(img, bridge, vocab)[0] for img in corpus.images}


def split_queries(image_kws: dict[str, dict[str, float]], holdout: float, seed: int,
                  min_train_per_keyword: int = 2, strata: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
    """Hold out a seeded fraction of images as queries, keeping >= min_train_per_keyword train images per keyword.

    `strata` (image id -> group, e.g. its kind: photo or drawing) holds out the fraction within each group, so that
    a small group (real photos beside many drawings) gets its share of queries rather than what chance leaves it;
    without it, or with one group, the split is the unstratified one."""
    if not 0.0 <= holdout < 1.0:
        raise Img2SongError(f"holdout must be in [0, 1), got {holdout}")
    ids = sorted(image_kws)
    rng = random.Random(seed)
    rng.shuffle(ids)
    group = {i: (strata or {}).get(i, "") for i in ids}
    sizes = Counter(group.values())
    quota = {g: int(round(holdout * n)) for g, n in sizes.items()}
    if len(sizes) <= 1:  # one group: the whole fraction, exactly as an unstratified split
        quota = {g: int(round(holdout * len(ids))) for g in sizes}
    left = Counter(k for i in ids for k in image_kws[i])
    query: list[str] = []
    for i in ids:
        if quota[group[i]] <= 0:
            continue
        if all(left[k] > min_train_per_keyword for k in image_kws[i]):
            query.append(i)
            quota[group[i]] -= 1
            for k in image_kws[i]:
                left[k] -= 1
    qset = set(query)
    return sorted(i for i in image_kws if i not in qset), sorted(query)


def _vocabulary(corpus: Corpus, vocabulary: list[str] | None, bridge: Bridge,
                progress: bool) -> tuple[list[str], str, KeywordSelection | None]:
    """(vocabulary, where it came from, the selection when one was run): given > keywords.txt > selected."""
    if vocabulary:
        return list(vocabulary), "the given vocabulary", None
    if corpus.keywords:
        return list(corpus.keywords), f"{corpus.root / 'keywords.txt'}", None
    sel = select_keywords(corpus, num=DEFAULT_NUM_KEYWORDS, bridge=bridge, progress=progress)
    if not sel.rows:
        raise Img2SongError(f"{corpus.root}: no keywords.txt, and no word passes the keyword selection rule: "
                            f"{sel.summary()}; lower --min-images / --min-songs or raise --max-song-share with "
                            f"`img2song keywords --corpus {corpus.root} --out FILE`, or write a keywords.txt")
    return sel.keywords, "selected (no keywords.txt)", sel


def _check_reach(corpus: Corpus, source: str, vocab_list: list[str], songs: int, images: int) -> None:
    """Stop with the cause when no song or no image reaches any keyword: such a network recommends nothing."""
    what = f"the {len(vocab_list)} keywords ({source}: {', '.join(vocab_list[:8])}{' ...' if len(vocab_list) > 8 else ''})"
    if not songs:
        raise Img2SongError(f"{corpus.root / 'songs.jsonl'}: no song reaches any of {what}: no lyric contains one; "
                            "check keywords.txt against the songs' language and text")
    if not images:
        tags = sorted({t for img in corpus.images[:50] for t in img.tags})[:8]
        raise Img2SongError(f"{corpus.root / 'images.jsonl'}: no image reaches any of {what}: no tag or caption "
                            f"matches one, directly or through the bilingual bridge (e.g. tags {tags}); check "
                            "'tag_language' and 'language', or add English<TAB>keyword pairs to lexicon.tsv")


def _warnings(vocab_list: list[str], img_kws: dict[str, dict[str, float]], train: list[str],
              query: list[str]) -> list[str]:
    n_train = Counter(k for i in train for k in img_kws[i])
    n_query = Counter(k for i in query for k in img_kws[i])
    out = []
    few = [k for k in vocab_list if n_train[k] < 2]
    if few:
        out.append(f"{len(few)} keyword(s) with fewer than 2 training images: "
                   + ", ".join(f"{k} ({n_train[k]})" for k in few))
    if not query:
        out.append("no query images: `img2song evaluate` needs some; rebuild with --holdout 0.2")
    else:
        none = [k for k in vocab_list if not n_query[k]]
        if none:
            out.append(f"{len(none)} keyword(s) with no query image: {', '.join(none)}")
    return out


def build_network(corpus: Corpus, holdout: float = 0.2, seed: int = 0, scheme: str = "count",
                  vocabulary: list[str] | None = None, bridge: Bridge | None = None,
                  progress: bool = True, context: ContextParams | None = None) -> BuildResult:
    """Typed network: song-keyword (lyric occurrences, graph.occurrences) and image-keyword (tag relevance) edges,
    plus song-word edges to lyric words beyond the vocabulary (graph.context) so that every song with a shared
    lyric word gets a trained embedding.

    The vocabulary is `vocabulary`, else the corpus's keywords.txt, else graph.vocabulary.select_keywords; images
    reach keywords through graph.bridge. Raises Img2SongError when no song or no image reaches any keyword."""
    t0 = time.perf_counter()
    fingerprint = corpus_fingerprint(corpus.root) if corpus.root is not None else None
    bridge = bridge or Bridge.for_corpus(corpus)
    context = context or ContextParams()
    vocab_list, source, selection = _vocabulary(corpus, vocabulary, bridge, progress)
    vocab = set(vocab_list)
    skipped: Counter[str] = Counter()

    matcher = Matcher(vocab_list)
    song_counts = [text_keywords(s.lyrics, matcher)
                   for s in tqdm(corpus.songs, desc="song keywords", unit="song", leave=False, disable=not progress)]
    song_weights = weigh(song_counts, scheme)
    song_kws: dict[str, dict[str, float]] = {}
    for song, w in zip(corpus.songs, song_weights):
        if w:
            song_kws[song.id] = {k: float(v) for k, v in sorted(w.items())}
        else:
            skipped["song with no keyword"] += 1
    song_words = context_edges(corpus.songs, vocab, context, progress)
    no_edge = sum(1 for s in corpus.songs if s.id not in song_kws and s.id not in song_words)
    if no_edge:
        skipped["song with no keyword and no shared lyric word (no edge: never recommended)"] = no_edge

    img_counts = image_keyword_counts(corpus, vocab, bridge)
    img_kws: dict[str, dict[str, float]] = {}
    for img in corpus.images:
        if img_counts[img.id]:
            img_kws[img.id] = {k: float(v) for k, v in sorted(img_counts[img.id].items())}
        else:
            skipped["image with no keyword"] += 1
    _check_reach(corpus, source, vocab_list, len(song_kws), len(img_kws))
    image_kinds = {i.id: i.kind for i in corpus.images if i.kind}
    train, query = split_queries(img_kws, holdout, seed, strata=image_kinds)

    ids: list[str] = []
    kinds: list[int] = []
    labels: list[str] = []
    for img_id in train:
        ids.append(vertex_id(Kind.IMAGE, img_id)); kinds.append(Kind.IMAGE)
        labels.append(corpus.image(img_id).file)
    for kw in vocab_list:
        ids.append(vertex_id(Kind.KEYWORD, kw)); kinds.append(Kind.KEYWORD); labels.append(kw)
    for song in corpus.songs:
        if song.id in song_kws or song.id in song_words:
            ids.append(vertex_id(Kind.SONG, song.id)); kinds.append(Kind.SONG)
            labels.append(f"{song.title} · {song.artist}" if song.artist else song.title)
    for word in sorted({w for ws in song_words.values() for w in ws}):
        ids.append(vertex_id(Kind.WORD, word)); kinds.append(Kind.WORD); labels.append(word)
    index = {v: i for i, v in enumerate(ids)}
    edges: list[tuple[int, int]] = []
    weights: list[float] = []
    for kind, table, keys, other in ((Kind.IMAGE, img_kws, train, Kind.KEYWORD),
                                     (Kind.SONG, song_kws, list(song_kws), Kind.KEYWORD),
                                     (Kind.SONG, song_words, list(song_words), Kind.WORD)):
        for key in keys:
            a = index[vertex_id(kind, key)]
            for kw, w in table[key].items():
                edges.append((a, index[vertex_id(other, kw)]))
                weights.append(w)
    net = Network(ids, np.array(kinds, np.int8), labels, np.array(edges, np.int64).reshape(-1, 2),
                  np.array(weights, np.float32), directed=False)
    return BuildResult(net, img_kws, song_kws, train, query, vocab_list, dict(skipped),
                       time.perf_counter() - t0, corpus_root=corpus.root,
                       params={"holdout": holdout, "seed": seed, "scheme": scheme,
                               "vocabulary": "selected (no keywords.txt)" if selection else source,
                               "context": context.to_dict(),
                               "edge_model": edge_model.run_record(bridge.edge_model, bridge.edge_threshold),
                               "kind_backoff": bridge.kind_backoff,
                               "query_kinds": dict(sorted(Counter(image_kinds.get(i, "unstated") for i in query).items()))},
                       selection=selection, warnings=_warnings(vocab_list, img_kws, train, query),
                       corpus_fingerprint=fingerprint, song_words=song_words,
                       totals={"songs": len(corpus.songs), "images": len(corpus.images)})
