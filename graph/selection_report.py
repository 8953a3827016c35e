"""How a keyword selection reports itself: why an item has no keyword, what the unreached images carry, and where
the greedy stopped (graph.vocabulary prints these lines and keeps them in KeywordSelection)."""
from __future__ import annotations

from collections import Counter

from graph import edge_model
from graph.bridge import Bridge
from graph.captions import readable_image
from graph.corpus import Corpus
from graph.cover import AUTO, STOP_COUNT, STOP_EXHAUSTED, STOP_GAIN, Stop
from graph.selection_params import SelectionParams


def stage_reason(words: set[str], support: Counter[str], songs: Counter[str], p: SelectionParams,
                  n_songs: int, eligible: set[str], what: str, picked: int, min_images: int) -> str:
    """Why an item has no keyword: the furthest step of the rule any of its words got past."""
    if not words:
        return ("no lyric word any image reaches" if what == "songs"
                else "no tag or caption reaches a lyric word")
    if any(w in eligible for w in words):
        return f"its words were not picked within the {picked} keywords"
    passing = [w for w in words if support[w] >= min_images]
    if not passing:
        return f"its words are reached by < {min_images} images"
    if any(songs[w] > p.max_song_share * n_songs for w in passing):
        return f"its words are in > {p.max_song_share:.0%} of songs"
    return f"its words are in < {p.min_songs} songs"


def model_lost_reason(bridge: Bridge) -> str:
    """Why an image its texts do link to lyric words has no keyword: the edge model dropped all its edges."""
    return f"the edge model dropped every edge its texts drew (P(right) < {edge_model.cut_text(bridge.edge_threshold)})"


def likeliest_dropped(lost: list[dict[str, float]]) -> list[tuple[str, int, float]]:
    """(keyword, images, highest P) of the likeliest dropped edge of each image the edge model left with none,
    commonest first: what --no-edge-model would give back, for the user to judge."""
    images: Counter[str] = Counter()
    best: dict[str, float] = {}
    for p in lost:
        kw = max(sorted(p), key=lambda w: p[w])
        images[kw] += 1
        best[kw] = max(best.get(kw, 0.0), p[kw])
    return sorted(((w, n, best[w]) for w, n in images.items()), key=lambda t: (-t[1], -t[2], t[0]))


def unreached_texts(corpus: Corpus, bridge: Bridge, image_words: list[set[str]], tagged: list[int],
                     top: int = 10) -> list[tuple[str, int]]:
    """The commonest texts (tags as the bridge reads them, else the caption) of the tagged images that reach no
    lyric word, counted once per image, leaving out texts an image that does reach one also carries (a folder-level
    'animal' says nothing about why a badger is unreached): what a user's lexicon.tsv would have to link."""
    def texts(k: int) -> set[str]:
        img = readable_image(corpus.images[k], bridge)
        return {t.strip().lower() for t in ([t for t in img.tags if t.strip()] or [img.caption]) if t.strip()}

    reaching = set().union(*(texts(k) for k in tagged if image_words[k]))
    counts: Counter[str] = Counter()
    for k in tagged:
        if not image_words[k]:
            counts.update(texts(k) - reaching)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]


def stop_line(p: SelectionParams, picked: int, eligible: int, stop: Stop, unit: float, new: int) -> str:
    """Where the picking stopped and why, in coverage terms (`new`: tagged images the next word reaches and no
    keyword does)."""
    how = f"--num {p.num} (fixed)" if p.num is not None else (
        f"--num {AUTO}: {p.min_num} by coverage gain, then while a word first-covers >= {p.min_new_images:g} "
        f"tagged images' worth, at most {p.max_num}")
    worth = "first-cover" if stop.first_cover else "gain"
    nxt = (f"the best word left, {stop.word}, would {worth} {stop.gain / unit:.2f} tagged images' worth ({new} "
           f"images reach it and no keyword yet)" if stop.word and unit > 0 else "")
    if stop.reason == STOP_EXHAUSTED:
        why = f"every one of the {eligible} eligible words was picked"
    elif stop.reason == STOP_GAIN:
        why = f"{nxt}: under {p.min_new_images:g}"
    elif stop.reason == STOP_COUNT:
        why = (f"the cap --max-num {p.max_num} was reached" if p.num is None else f"--num {p.num} was reached") + (
            f"; {nxt}" if nxt else "")
    else:
        why = (f"no word left first-covers a tagged image ({eligible - picked} eligible words left)"
               if stop.first_cover else f"no word left adds coverage ({eligible - picked} eligible words left)")
    return f"stopped at {picked} keywords ({how}): {why}"
