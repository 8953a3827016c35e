"""A new song's or image's edges into a trained network, by build-graph's own rules (graph.build, graph.context).

Songs: keyword occurrences counted by graph.occurrences' Matcher (what build-graph links, KM counts and a hit
is), weighted by the run's scheme ("count", or tf-idf with the catalogue's document frequencies), plus lyric-word
edges to the network's existing word vertices, the `per_song` of largest tf-idf sharing `weight` (graph.context).
Images: keywords reached by the image's caption and tags through the bilingual bridge, file-name captions made
readable and the single-word back-off included (graph.captions.image_keywords: build-graph's own call).
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from graph.bridge import Bridge
from graph.captions import image_keywords
from graph.common.errors import Img2SongError
from graph.context import ContextParams
from graph.keywords import WEIGHT_SCHEMES, content_words
from graph.network import Kind, vertex_id
from graph.occurrences import Matcher, is_cjk_word
from graph.records import Image, Song


@dataclass
class Edges:
    """A new vertex's edges: keyword -> weight and (songs only) lyric word -> weight."""

    keywords: dict[str, float]
    words: dict[str, float] = field(default_factory=dict)

    def vertex_edges(self) -> list[tuple[str, float]]:
        """(trained vertex id, weight) pairs, keywords first, each group sorted: the fold-in's input."""
        return ([(vertex_id(Kind.KEYWORD, k), w) for k, w in sorted(self.keywords.items())]
                + [(vertex_id(Kind.WORD, k), w) for k, w in sorted(self.words.items())])

    @property
    def weight(self) -> float:
        return float(sum(self.keywords.values()) + sum(self.words.values()))


def content_df(songs: Sequence[Song]) -> Counter[str]:
    """In how many of `songs` each content word occurs (graph.keywords.content_words of the lyrics)."""
    df: Counter[str] = Counter()
    for s in songs:
        df.update(set(content_words(s.lyrics, s.language)))
    return df


class CatalogueEdger:
    """Edges of new songs and images, against one run's vocabulary, network word vertices and corpus statistics.

    `songs`: the catalogue's songs at build time (document frequencies of lyric words, computed on first need, or
    taken from `count_from`'s source: a run keeps them), `song_keywords`: their keyword weights (keyword document
    frequencies for tf-idf), `words`: the network's word vertices (without the "word:" prefix)."""

    def __init__(self, vocabulary: Sequence[str], bridge: Bridge, songs: Sequence[Song],
                 song_keywords: dict[str, dict[str, float]], words: set[str], scheme: str = "count",
                 context: ContextParams | None = None) -> None:
        if scheme not in WEIGHT_SCHEMES:
            raise Img2SongError(f"unknown weighting scheme {scheme!r}; expected one of {WEIGHT_SCHEMES}")
        self.vocabulary, self.bridge, self.scheme = list(vocabulary), bridge, scheme
        self.vocab = frozenset(self.vocabulary)
        self.context = context or ContextParams()
        self.words = frozenset(words)
        self._songs = list(songs)
        self._n = len(self._songs)
        self._kw_df = Counter(k for kws in song_keywords.values() for k, w in kws.items() if w > 0)
        self._word_df: Counter[str] | None = None
        self._content_df: Callable[[], Counter[str]] | None = None
        self._matcher = Matcher(self.vocabulary)

    def _lyric_word(self, w: str) -> bool:
        """A content word that may be a lyric-word edge: no keyword, and (Chinese) at most max_chars long."""
        return w not in self.vocab and (not is_cjk_word(w) or len(w) <= self.context.max_chars)

    def _lyric_words(self, song: Song) -> Counter[str]:
        return Counter(w for w in content_words(song.lyrics, song.language) if self._lyric_word(w))

    @property
    def songs(self) -> list[Song]:
        """The catalogue's songs at build time (what word_df counts)."""
        return self._songs

    def count_from(self, source: Callable[[], Counter[str]]) -> CatalogueEdger:
        """Where word_df takes content_df(songs) from: `source` (a run keeps it) instead of tokenising the
        catalogue again (about 10 s CPU for 10,000 lyrics)."""
        self._content_df = source
        return self

    def word_df(self) -> Counter[str]:
        """Document frequency of the network's lyric words over the catalogue at build time (computed once)."""
        if self._word_df is None:
            df = self._content_df() if self._content_df is not None else content_df(self._songs)
            self._word_df = Counter({w: c for w, c in df.items() if w in self.words and self._lyric_word(w)})
        return self._word_df

    def song(self, song: Song) -> Edges:
        """Keyword edges (graph.build's rule and scheme) and word edges (graph.context's rule) of a new song."""
        counts = self._matcher.counts(song.lyrics)
        if self.scheme == "count":
            kws = {k: float(c) for k, c in counts.items() if c > 0}
        else:  # tf-idf as graph.keywords.weigh, the new song counted among the documents
            n = self._n + 1
            kws = {k: float(c) * (math.log((1 + n) / (1 + self._kw_df[k] + 1)) + 1.0) for k, c in counts.items() if c > 0}
        words: dict[str, float] = {}
        p = self.context
        if p.per_song and self.words:
            tf = {w: c for w, c in self._lyric_words(song).items() if w in self.words}
            if tf:
                df, n = self.word_df(), self._n + 1
                scored = sorted(((w, c * math.log(n / (df[w] + 1))) for w, c in tf.items()),
                                key=lambda ws: (-ws[1], ws[0]))[:p.per_song]
                scored = [(w, x) for w, x in scored if x > 0]
                total = sum(x for _, x in scored)
                if scored and total > 0:
                    words = {w: p.weight * x / total for w, x in sorted(scored)}
        return Edges({k: kws[k] for k in sorted(kws)}, words)

    def warm(self) -> CatalogueEdger:
        """Load now what the first song or image would load (jieba's tagger, CC-CEDICT, WordNet, the known nouns,
        the lyric words' document frequencies), so that no change pays for it: a server calls this at start-up."""
        word = self.vocabulary[0] if self.vocabulary else "moon"
        self.word_df()
        self.song(Song("warm-up", "", "", f"{word} moon light", "zh" if is_cjk_word(word) else "en", 0.0))
        self.image(Image("warm-up", "", ("moon over a lake",), word, "zh" if is_cjk_word(word) else "en", "en"))
        self.image(Image("warm-up", "", (word, "月亮"), "", "en", "zh"))
        return self

    def image(self, image: Image) -> Edges:
        """Keyword edges of a new image from its caption and tags, through the bridge (graph.build's rule)."""
        counts, _ = image_keywords(image, self.bridge, self.vocab)
        return Edges({k: float(v) for k, v in sorted(counts.items()) if v > 0})
