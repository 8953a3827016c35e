"""Image-song pairs from shared keywords, and padded token tensors for the lyric LSTM."""
from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from engine.lstm.wordvectors import WordVectors


@dataclass
class PairSet:
    """(image, song) pairs: image and song share a keyword; each song keeps its best `images_per_song` images."""

    pairs: list[tuple[str, str]]
    songs: list[str]  # songs with at least `min_images` images, sorted
    images: list[str]  # images used in some pair, sorted
    song_images: dict[str, list[str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)  # what was dropped and why


def keyword_pairs(image_keywords: Mapping[str, Mapping[str, float]], song_keywords: Mapping[str, Mapping[str, float]],
                  songs_per_keyword: int = 8, images_per_song: int = 5, min_images: int = 2,
                  images: Sequence[str] | None = None, seed: int = 0) -> PairSet:
    """Pairs in the spirit of the Shuttersong triplets (paper §5.1), built from keywords.json.

    A keyword links its `songs_per_keyword` songs of highest keyword weight (ties: song id) to every image
    carrying it. A pair's strength is Σ over shared keywords of image weight × song weight; each song keeps its
    `images_per_song` strongest images (the paper keeps 5 images per song) and needs `min_images` of them.
    Equal strengths (the rule, with 0/1 or count weights) are broken by a seeded hash of (song, image), so the
    songs of a keyword draw different images rather than all the same lowest ids.
    """
    allowed = set(images) if images is not None else None
    by_kw: dict[str, list[tuple[float, str]]] = defaultdict(list)
    for sid, kws in song_keywords.items():
        for kw, w in kws.items():
            by_kw[kw].append((float(w), sid))
    top_songs = {kw: [s for _, s in sorted(lst, key=lambda t: (-t[0], t[1]))[:songs_per_keyword]]
                 for kw, lst in by_kw.items()}
    strength: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for iid, kws in image_keywords.items():
        if allowed is not None and iid not in allowed:
            continue
        for kw, w in kws.items():
            for sid in top_songs.get(kw, ()):
                strength[sid][iid] += float(w) * float(song_keywords[sid][kw])
    counts = {"songs_linked": len(strength), "songs_below_min_images": 0, "pairs_over_images_per_song": 0}
    song_images: dict[str, list[str]] = {}
    for sid in sorted(strength):
        ranked = sorted(strength[sid].items(), key=lambda t: (-t[1], zlib.crc32(f"{seed}\t{sid}\t{t[0]}".encode()),
                                                              t[0]))
        counts["pairs_over_images_per_song"] += max(0, len(ranked) - images_per_song)
        if len(ranked) < min_images:
            counts["songs_below_min_images"] += 1
            continue
        song_images[sid] = [iid for iid, _ in ranked[:images_per_song]]
    pairs = [(iid, sid) for sid, imgs in song_images.items() for iid in imgs]
    counts["pairs"] = len(pairs)
    return PairSet(pairs, sorted(song_images), sorted({i for i, _ in pairs}), song_images, counts)


def encode_lyrics(token_lists: Sequence[Sequence[str]], vectors: WordVectors, max_len: int = 48
                  ) -> tuple[np.ndarray, np.ndarray, int]:
    """(token ids [N,max_len] padded with 0, lengths [N] >= 1, number of lyrics with no known word).

    Lyrics longer than max_len keep their first max_len known words; a lyric with none gets one padding step
    (its vector then carries no information, and it is counted).
    """
    ids = np.zeros((len(token_lists), max_len), dtype=np.int64)
    lengths = np.ones(len(token_lists), dtype=np.int64)
    empty = 0
    for i, toks in enumerate(token_lists):
        row = vectors.encode(toks)[:max_len]
        if not row:
            empty += 1
            continue
        ids[i, :len(row)] = row
        lengths[i] = len(row)
    return ids, lengths, empty


def tag_word_ids(tag_vocab: Sequence[str], vectors: WordVectors) -> np.ndarray:
    """Word-vector row of each tag (0 when the tag word has no vector)."""
    return np.array([vectors.index.get(t, 0) for t in tag_vocab], dtype=np.int64)
