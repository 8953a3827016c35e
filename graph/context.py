"""Song-word edges beyond the keyword vocabulary, so that every song gets a trained embedding.

A song whose lyrics hold no image-expressible keyword has no keyword edge: LINE would never train it and NE could
never recommend it. Each song is therefore also linked to its most characteristic lyric words outside the
vocabulary (a second vertex set, Kind.WORD): the content words (jieba POS filter / English lemmas, as keyword
candidates are found) in >= `min_songs` and <= `max_song_share` of the songs, the `per_song` of largest tf-idf.
A word shared with songs that do carry keywords places the song near them (LINE's second order: vertices with
similar neighbourhoods get similar vectors). Each song's word edges share a total weight `weight` (0.25), so that a
song with keywords stays placed mostly by them (a keyword edge weighs its occurrence count, >= 1).
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

from tqdm import tqdm

from graph.common.errors import Img2SongError
from graph.keywords import content_words
from graph.occurrences import is_cjk_word


@dataclass(frozen=True)
class ContextParams:
    """Song-word edge hyperparameters; each default is stated here once."""

    per_song: int = 4  # lyric words linked per song (0: no song-word edges); one shared word already places a
    # song, and 4 x songs edges keep LINE's default samples (10 x directed edges, >= 1M) near a keyword-only graph's
    min_songs: int = 2  # a word in one song links nothing
    max_song_share: float = 0.10  # a word in more songs is in one of ten random songs: it links everything
    weight: float = 0.25  # total weight of one song's word edges, a quarter of one keyword occurrence: they place
    # songs that have no keyword without pulling those that have one away from it (LINE samples edges by weight)
    max_chars: int = 4  # longer Chinese "words" are phrases

    def __post_init__(self) -> None:
        if self.per_song < 0 or self.min_songs < 1 or self.max_chars < 1:
            raise Img2SongError("context words: per_song must be >= 0, min_songs and max_chars >= 1")
        if not 0.0 < self.max_song_share <= 1.0:
            raise Img2SongError(f"context words: max_song_share must be in (0, 1], got {self.max_song_share}")
        if not self.weight > 0.0 or not math.isfinite(self.weight):
            raise Img2SongError(f"context words: weight must be positive, got {self.weight}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def context_edges(songs: Sequence[Any], vocabulary: set[str] | frozenset[str], params: ContextParams,
                  progress: bool = True) -> dict[str, dict[str, float]]:
    """song id -> {lyric word outside the vocabulary: edge weight}; words end up linked to >= min_songs songs."""
    if params.per_song == 0 or not songs:
        return {}
    tf: list[Counter[str]] = []
    for s in tqdm(songs, desc="lyric words", unit="song", disable=not progress, leave=False):
        words = content_words(s.lyrics, s.language)
        tf.append(Counter(w for w in words if w not in vocabulary and (not is_cjk_word(w)
                                                                         or len(w) <= params.max_chars)))
    df: Counter[str] = Counter()
    for c in tf:
        df.update(c.keys())
    n = len(songs)
    keep = {w for w, k in df.items() if params.min_songs <= k <= params.max_song_share * n}
    top: dict[str, list[tuple[str, float]]] = {}
    for s, c in zip(songs, tf):
        scored = sorted(((w, k * math.log(n / df[w])) for w, k in c.items() if w in keep),
                        key=lambda ws: (-ws[1], ws[0]))[:params.per_song]
        if scored:
            top[s.id] = scored
    degree = Counter(w for scored in top.values() for w, _ in scored)
    out: dict[str, dict[str, float]] = {}
    for sid, scored in top.items():
        scored = [(w, x) for w, x in scored if degree[w] >= params.min_songs and x > 0]
        total = sum(x for _, x in scored)
        if scored and total > 0:
            out[sid] = {w: params.weight * x / total for w, x in sorted(scored)}
    return out
