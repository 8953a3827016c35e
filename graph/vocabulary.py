"""Keyword selection: frequent content words of titles and lyrics that images can express and that discriminate.

The rule (the paper's "frequent words", restricted to what the network can use):
1. candidates are the content words of song titles and lyrics (jieba with the POS filter for Chinese, single
   characters and multi-character words alike; English lemmas);
2. keep those that at least `min_images` images reach through their tags or caption, directly or through the
   bilingual bridge (graph.bridge), exactly as build-graph will link them;
3. keep those contained in at least `min_songs` songs and in at most `max_song_share` of all songs (a word in most
   songs says nothing: ten random songs would contain it);
4. take the `num` most frequent (by songs containing them).
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from graph.bridge import Bridge, image_reach, is_cjk
from graph.common.atomic import write_text
from graph.common.errors import Img2SongError
from graph.corpus import Corpus
from graph.keywords import content_words, tokenize

RULE = ("content words of titles and lyrics (jieba POS filter / English lemmas), reached by >= min_images images "
        "(tags or caption, directly or through the CC-CEDICT bridge), contained in >= min_songs songs and in "
        "<= max_song_share of songs; the num most frequent")


@dataclass(frozen=True)
class SelectionParams:
    num: int = 72
    min_images: int = 5
    min_songs: int = 10
    max_song_share: float = 0.05
    max_chars: int = 4  # longer Chinese "words" are phrases, not keywords

    def __post_init__(self) -> None:
        if self.num < 1:
            raise Img2SongError(f"--num must be at least 1, got {self.num}")
        if self.min_images < 1 or self.min_songs < 1:
            raise Img2SongError("--min-images and --min-songs must be at least 1")
        if not 0.0 < self.max_song_share <= 1.0:
            raise Img2SongError(f"--max-song-share must be in (0, 1], got {self.max_song_share}")


@dataclass(frozen=True)
class KeywordRow:
    keyword: str
    songs: int  # songs whose lyrics contain it
    share: float  # songs / all songs
    images: int  # images that reach it
    example_tags: tuple[str, ...]  # tags or captions that reached it, most frequent first


@dataclass
class KeywordSelection:
    rows: list[KeywordRow]
    params: SelectionParams
    corpus: str
    songs_total: int
    images_total: int
    funnel: dict[str, int] = field(default_factory=dict)  # candidates left after each step
    dropped: dict[str, list[str]] = field(default_factory=dict)  # reason -> most frequent words dropped for it
    seconds: float = 0.0

    @property
    def keywords(self) -> list[str]:
        return [r.keyword for r in self.rows]

    def header(self) -> list[str]:
        p = self.params
        return [f"# keywords selected by img2song: {RULE}",
                f"# num={p.num} min_images={p.min_images} min_songs={p.min_songs} "
                f"max_song_share={p.max_song_share} max_chars={p.max_chars}",
                f"# corpus {self.corpus}: {self.songs_total} songs, {self.images_total} images; "
                f"{datetime.now(timezone.utc):%Y-%m-%d}. Edit freely: one keyword a line, '#' starts a comment."]

    def text(self) -> str:
        return "\n".join(self.header() + self.keywords) + "\n"

    def write(self, path: str | Path) -> Path:
        """keywords.txt (atomically): the '#' header naming the rule and parameters, then one keyword a line."""
        return write_text(path, self.text())

    def table(self, limit: int | None = None) -> str:
        lines = [f"{'keyword':<8} {'songs':>6} {'share':>6} {'images':>6}  example tags"]
        for r in self.rows[:limit]:
            lines.append(f"{r.keyword:<8} {r.songs:>6} {r.share:>6.1%} {r.images:>6}  {', '.join(r.example_tags)}")
        return "\n".join(lines)

    def summary(self) -> str:
        f = self.funnel
        return (f"{f.get('candidates', 0)} candidate words -> {f.get('reached by images', 0)} reached by "
                f">= {self.params.min_images} images -> {f.get('within song limits', 0)} in >= "
                f"{self.params.min_songs} and <= {self.params.max_song_share:.0%} of {self.songs_total} songs "
                f"-> {len(self.rows)} selected ({self.seconds:.1f} s)")

    def to_dict(self) -> dict[str, Any]:
        return {"rule": RULE, "params": asdict(self.params), "corpus": self.corpus, "songs": self.songs_total,
                "images": self.images_total, "funnel": self.funnel, "dropped": self.dropped,
                "keywords": [asdict(r) for r in self.rows]}


def _song_counts(corpus: Corpus, words: set[str], progress: bool) -> Counter[str]:
    """Songs whose lyrics contain each word: substring for Chinese (as the ground truth counts), lemma for English."""
    zh = sorted(w for w in words if is_cjk(w))
    en = {w for w in words if not is_cjk(w)}
    counts: Counter[str] = Counter()
    for song in tqdm(corpus.songs, desc="keyword song counts", unit="song", disable=not progress, leave=False):
        text = song.lyrics
        counts.update(w for w in zh if w in text)
        if en:
            counts.update(set(tokenize(text, song.language)) & en if song.language == "en" else ())
    return counts


def select_keywords(corpus: Corpus, num: int = 72, min_images: int = 5, min_songs: int = 10,
                    max_song_share: float = 0.05, max_chars: int = 4, bridge: Bridge | None = None,
                    progress: bool = True) -> KeywordSelection:
    """Propose the keyword vocabulary of a corpus (see the module docstring for the rule)."""
    t0 = time.perf_counter()
    params = SelectionParams(num, min_images, min_songs, max_song_share, max_chars)
    bridge = bridge or Bridge(corpus.lexicon)
    n_songs = len(corpus.songs)
    freq: Counter[str] = Counter()
    for song in tqdm(corpus.songs, desc="candidate words", unit="song", disable=not progress, leave=False):
        words = content_words(f"{song.title}\n{song.lyrics}", song.language)
        freq.update({w for w in words if not is_cjk(w) or len(w) <= max_chars})
    candidates = frozenset(freq)

    support: Counter[str] = Counter()
    sources: dict[str, Counter[str]] = {}
    for img in tqdm(corpus.images, desc="image reach", unit="image", disable=not progress, leave=False):
        _, why = image_reach(img, bridge, candidates)
        support.update(why.keys())
        for kw, texts in why.items():
            sources.setdefault(kw, Counter()).update(texts)
    reached = {w for w, k in support.items() if k >= min_images}

    songs = _song_counts(corpus, reached, progress)
    max_songs = max_song_share * n_songs
    kept = [w for w in reached if min_songs <= songs[w] <= max_songs]
    kept.sort(key=lambda w: (-songs[w], w))
    rows = [KeywordRow(w, songs[w], round(songs[w] / max(n_songs, 1), 4), support[w],
                       tuple(t for t, _ in sources[w].most_common(3))) for w in kept[:num]]

    top = [w for w, _ in freq.most_common(200)]
    dropped = {
        f"reached by < {min_images} images": [w for w in top if w not in reached][:10],
        f"in > {max_song_share:.0%} of songs": [w for w in sorted(reached, key=lambda w: -songs[w])
                                                 if songs[w] > max_songs][:10],
        f"in < {min_songs} songs": [w for w in sorted(reached, key=lambda w: -support[w])
                                    if songs[w] < min_songs][:10],
    }
    funnel = {"candidates": len(candidates), "reached by images": len(reached), "within song limits": len(kept),
              "selected": len(rows)}
    return KeywordSelection(rows, params, str(corpus.root), n_songs, len(corpus.images), funnel,
                            {k: v for k, v in dropped.items() if v}, time.perf_counter() - t0)
