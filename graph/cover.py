"""Greedy discounted coverage (keyword selection's objective) and the coverage rule that says when to stop.

An item (a song or a tagged image) a word reaches may carry a confidence in [0, 1] (graph.confidence; a set of
items means 1 each). An item is worth sum_k repeat_discount**k x (its k-th largest confidence among the picked
words), songs weighted song_weight and images 1 - song_weight, each as a share of its total. The objective is a
non-negative sum of "top-k" sums, monotone and submodular, so the greedy choice is within 1 - 1/e of the best and
the lazy evaluation (CELF) is exact: gains only shrink as items get covered, and a word whose refreshed gain still
tops the heap is the true maximum.

The stopping rule (`cover_until` with `floor`): after `floor` picks of that objective, a word is worth adding only
for the tagged images it covers first: the gain counts first covers of images alone (repeat_discount 0: an image
adds its confidence above the best it already has; songs do not count, since a song without a keyword still has
its lyric-word edges, graph.context, and an image without one has nothing), and picking goes on while the best
word's gain is at least `min_gain`, up to `num` words in all. That gain is again monotone submodular (a weighted
max-coverage) and never above the discounted one, so the same lazy greedy stays exact, and since a greedy's gains
never rise, it stops at the first word below the threshold: no word left could pass it.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

from graph.confidence import Reach, confidences, insert_gain

STOP_COUNT, STOP_GAIN, STOP_EXHAUSTED, STOP_NO_GAIN = "count", "gain", "exhausted", "no gain"
AUTO = "auto"  # the --num value of the coverage-driven count, and the --min-images value of the stepped floor


@dataclass(frozen=True)
class Stop:
    """Why the greedy stopped, and the best word it left (None: none left) with that word's gain then."""

    reason: str  # STOP_COUNT: num words picked; STOP_GAIN: the best gain fell below min_gain; STOP_EXHAUSTED:
    # every word picked; STOP_NO_GAIN: no word left adds anything
    word: str | None = None
    gain: float = 0.0
    first_cover: bool = False  # the gain counts first covers of images only (past the floor)


def cover_until(song_sets: Reach, image_sets: Reach, n_songs: int, n_images: int, num: int,
                song_weight: float = 0.5, repeat_discount: float = 0.5, tie: dict[str, float] | None = None,
                floor: int | None = None, min_gain: float = 0.0) -> tuple[list[tuple[str, float]], Stop]:
    """([(word, its marginal gain)] in pick order, why it stopped): at most `num` words; with `floor`, the words
    past the first `floor` are scored by the images they cover first and taken while that gain is >= min_gain
    (module docstring). Ties go to the larger `tie` value (e.g. songs containing the word), then the word."""
    ws, wi = song_weight / max(n_songs, 1), (1.0 - song_weight) / max(n_images, 1)
    songs = {w: confidences(r) for w, r in song_sets.items()}
    images = {w: confidences(r) for w, r in image_sets.items()}
    cs: dict[int, list[float]] = {}  # item -> confidences covering it, descending
    ci: dict[int, list[float]] = {}
    tie = tie or {}
    discount = repeat_discount

    def part(reach: dict[int, float], cover: dict[int, list[float]]) -> float:
        return sum(insert_gain(cover.get(k, ()), c, discount) for k, c in reach.items())

    def gain(w: str) -> float:
        return (0.0 if extending else ws * part(songs.get(w, {}), cs)) + wi * part(images.get(w, {}), ci)

    def cover(reach: dict[int, float], into: dict[int, list[float]]) -> None:
        for k, c in reach.items():
            into.setdefault(k, []).append(c)
            into[k].sort(reverse=True)

    words = sorted(set(song_sets) | set(image_sets))
    extending = floor is not None and floor <= 0
    if extending:
        discount = 0.0
    heap = [(-gain(w), -tie.get(w, 0.0), w) for w in words]
    heapq.heapify(heap)
    picked: list[tuple[str, float]] = []
    fresh: set[str] = set(words)  # gains valid for the current cover
    while heap:
        g, t, w = heapq.heappop(heap)
        if w not in fresh:
            heapq.heappush(heap, (-gain(w), t, w))
            fresh.add(w)
            continue
        if len(picked) >= num:
            return picked, Stop(STOP_COUNT, w, -g, extending)
        if -g <= 0.0:
            return picked, Stop(STOP_NO_GAIN, w, -g, extending)
        if extending and -g < min_gain:
            return picked, Stop(STOP_GAIN, w, -g, True)
        picked.append((w, -g))
        cover(songs.get(w, {}), cs)
        cover(images.get(w, {}), ci)
        fresh = set()
        if not extending and floor is not None and len(picked) >= floor:
            extending, discount = True, 0.0  # from here a word is worth the images it covers first (gains stale)
    return picked, Stop(STOP_EXHAUSTED, None, 0.0, extending)


def greedy_cover(song_sets: Reach, image_sets: Reach, n_songs: int, n_images: int,
                 num: int, song_weight: float = 0.5, repeat_discount: float = 0.5,
                 tie: dict[str, float] | None = None) -> list[tuple[str, float]]:
    """Greedy maximisation of discounted coverage (module docstring), `num` words at most: [(word, its marginal
    gain)] in pick order; with confidences of 1 this is exactly the unweighted objective."""
    return cover_until(song_sets, image_sets, n_songs, n_images, num, song_weight, repeat_discount, tie)[0]
