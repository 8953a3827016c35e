"""Keyword selection: lyric words that images can express, chosen to cover the catalogue (songs and images).

The rule:
1. candidates are the content words of song titles and lyrics (jieba with the POS filter for Chinese, single
   characters and multi-character words alike; English lemmas), and the single characters jieba never isolates
   that are words of their own (鸟, 车, 杯 inside 飞鸟, 车马, 杯酒; `character_candidates`): the corpus uses the
   character as the head (last character) of >= CHAR_HEADS distinct content words, and the dictionary as a common
   noun (`noun_character`);
2. eligible are those that at least `min_images` images reach through their tags or caption, directly or through
   the bilingual bridge (graph.bridge; file-name captions made readable, graph.captions), exactly as build-graph
   will link them (by default, `--min-images auto`: 3, or 1 when fewer words than the keywords asked for are
   eligible at 3, as in a catalogue of photos named one by one, where most things are shown once or twice), and
   that occur (graph.occurrences, the rule the network and the ground truth count by) in at least `min_songs`
   songs and at most `max_song_share` of them (a word in most songs says nothing: ten random songs would contain
   it);
3. greedy coverage (graph.cover): take the eligible word of largest marginal gain, where a song or tagged
   image covered t times already adds `repeat_discount ** t` (first cover 1, second 0.25, ...), songs weighted
   `song_weight` and images `1 - song_weight`, each as a share of its total. An image counts for a word by the
   edge's confidence in [0, 1] (graph.confidence: the bridge's weight per text, ramped from `confidence_floor`; a
   WordNet-kind-only edge discounted), worth sum_k repeat_discount**k x its k-th largest confidence among the
   picked words, so a word images reach weakly loses to one they reach strongly; a song counts 1. The objective is
   monotone and submodular, so the greedy choice is within 1 - 1/e of the best and is computed lazily (CELF);
4. how many: `num` words at most (by default the paper's 72); with num None (`--num auto`) the count follows
   coverage: `min_num` words (the paper's 72) as above, then the word that first-covers most tagged images (each
   by its confidence above the best it had; songs and repeat covers not counted) while it first-covers at least
   `min_new_images` images' worth (the min_images a keyword needs at all), up to `max_num` words in all.
"""
from __future__ import annotations

import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from graph import edge_model
from graph.bridge import DEFAULT_EDGE_MODEL, DEFAULT_EDGE_THRESHOLD, DEFAULT_KIND_BACKOFF, Bridge, is_cjk
from graph.captions import image_keywords, prepare_images
from graph.char_candidates import (  # noqa: F401  (noun_character: importable from here as before)
    CHAR_HEADS,
    character_candidates,
    noun_character,
)
from graph.common.atomic import write_text
from graph.confidence import edge_confidence, kind_only
from graph.corpus import Corpus
from graph.cover import (
    AUTO,
    cover_until,
    greedy_cover,  # noqa: F401  (the selection's greedy, importable from here as before)
)
from graph.keywords import content_words
from graph.occurrences import Matcher
from graph.selection_params import SelectionParams
from graph.selection_report import (
    likeliest_dropped,
    model_lost_reason,
    stage_reason,
    stop_line,
    unreached_texts,
)

RULE = ("content words of titles and lyrics (jieba POS filter / English lemmas; and characters jieba never isolates "
        f"that head >= {CHAR_HEADS} of them and are first a physical common noun in CC-CEDICT) "
        "reached by >= min_images images (auto: 3, or 1 when fewer than the keywords wanted pass at 3) "
        "(tags or caption, directly or through the bridge) and occurring in >= min_songs and <= max_song_share of "
        "songs; greedily the word of largest coverage gain (songs and images; an item covered t times adds "
        "repeat_discount**t; an image counts by its edge's confidence), up to num; num auto: min_num words, "
        "then while the best word first-covers >= min_new_images tagged images' worth (songs not counted), up to "
        "max_num")
MIN_IMAGES_STEPS = (3, 1)  # --min-images auto: the floors tried in turn (see SelectionParams.min_images)


def _confidence_setting(p: SelectionParams, model: bool, threshold: float | None = None) -> str:
    """How an edge's confidence was set: the edge model's P (and its drop threshold: `threshold`, the bridge's
    edge_threshold, or the model file's) when it is on (`model`: the bridge's setting), else the hand-set rule's
    constants (graph.confidence)."""
    if model and p.confidence_floor is not None:
        return f"confidence=edge model P(right), edges below {edge_model.cut_text(threshold)} dropped"
    return f"confidence_floor={p.confidence_floor} kind_confidence={p.kind_confidence} (edge model off)"


@dataclass(frozen=True)
class KeywordRow:
    keyword: str
    songs: int  # songs whose lyrics contain it
    share: float  # songs / all songs
    images: int  # images that reach it
    example_tags: tuple[str, ...]  # tags or captions that reached it, most frequent first
    gain: float = 0.0  # marginal coverage gain when it was picked
    songs_covered: int = 0  # songs covered by the keywords picked so far (this one included)
    images_covered: int = 0  # tagged images covered so far


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
    tagged_images: int = 0  # images with a tag or a caption
    songs_covered: int = 0  # songs containing >= 1 selected keyword
    images_covered: int = 0  # tagged images reaching >= 1 selected keyword
    blocked: dict[str, dict[str, int]] = field(default_factory=dict)  # "songs"/"images" -> reason -> count
    stop: str = ""  # where and why the picking stopped
    min_images: int = MIN_IMAGES_STEPS[0]  # the floor the rule applied (params.min_images, or what auto chose)
    eligible_at: dict[int, int] = field(default_factory=dict)  # --min-images auto: floor tried -> eligible words
    edge_model: bool = DEFAULT_EDGE_MODEL  # whether the edge model dropped weak edges (the bridge's setting)
    kind_backoff: bool = DEFAULT_KIND_BACKOFF  # whether images reaching no keyword reached their kinds' (the same)
    edge_threshold: float | None = DEFAULT_EDGE_THRESHOLD  # the drop threshold given (the bridge's; None: the file's)
    unreached: list[tuple[str, int]] = field(default_factory=list)  # commonest texts of tagged images that reach no
    # lyric word at all, with the images carrying each (what a corpus lexicon.tsv could link by hand)
    model_lost: list[tuple[str, int, float]] = field(default_factory=list)  # images the edge model left with no
    # edge: the keyword of each one's likeliest dropped edge, with the images and the highest P(right) among them

    @property
    def keywords(self) -> list[str]:
        return [r.keyword for r in self.rows]

    @property
    def song_coverage(self) -> float:
        return self.songs_covered / self.songs_total if self.songs_total else 0.0

    @property
    def image_coverage(self) -> float:
        return self.images_covered / self.tagged_images if self.tagged_images else 0.0

    def header(self) -> list[str]:
        p = self.params
        return [f"# keywords selected by img2song: {RULE}",
                f"# num={p.num or AUTO} min_num={p.min_num} max_num={p.max_num} "
                f"min_new_images={p.min_new_images:g} min_images={self.min_images_setting()} min_songs={p.min_songs} "
                f"max_song_share="
                f"{p.max_song_share} max_chars={p.max_chars} song_weight={p.song_weight:.3g} "
                f"repeat_discount={p.repeat_discount} " + _confidence_setting(p, self.edge_model, self.edge_threshold)
                + ("" if self.kind_backoff else " kind back-off off (--no-kind-backoff)"),
                f"# corpus {self.corpus}: {self.songs_total} songs, {self.images_total} images; coverage "
                f"{self.song_coverage:.1%} of songs, {self.image_coverage:.1%} of tagged images; "
                f"{datetime.now(timezone.utc):%Y-%m-%d}. Edit freely: one keyword a line, '#' starts a comment."]

    def min_images_setting(self) -> str:
        """'3' as given, or for --min-images auto the floor it chose and the eligible words at each floor tried."""
        if self.params.min_images is not None:
            return str(self.min_images)
        tried = ", ".join(f"{k} -> {n} eligible" for k, n in self.eligible_at.items())
        return f"{AUTO}: {self.min_images} ({tried}; {self.wanted()} wanted)"

    def wanted(self) -> int:
        """The keywords asked for: num, or min_num for --num auto."""
        return self.params.min_num if self.params.num is None else self.params.num

    def text(self) -> str:
        return "\n".join(self.header() + self.keywords) + "\n"

    def write(self, path: str | Path) -> Path:
        """keywords.txt (atomically): the '#' header naming the rule and parameters, then one keyword a line."""
        return write_text(path, self.text())

    def table(self, limit: int | None = None) -> str:
        lines = [f"{'keyword':<8} {'songs':>6} {'share':>6} {'images':>6} {'gain':>6} {'songs cov':>9} "
                 f"{'imgs cov':>8}  example tags"]
        for r in self.rows[:limit]:
            lines.append(f"{r.keyword:<8} {r.songs:>6} {r.share:>6.1%} {r.images:>6} {r.gain:>6.3f} "
                         f"{r.songs_covered:>9} {r.images_covered:>8}  {', '.join(r.example_tags)}")
        return "\n".join(lines)

    def summary(self) -> str:
        f = self.funnel
        chars = f" ({f['characters']} of them characters heading >= {CHAR_HEADS} words)" if f.get("characters") else ""
        return (f"{f.get('candidates', 0)} candidate words{chars} -> {f.get('reached by images', 0)} reached by "
                f">= {self.min_images} images{self._auto_note()} -> {f.get('within song limits', 0)} in >= "
                f"{self.params.min_songs} and <= {self.params.max_song_share:.0%} of {self.songs_total} songs "
                f"-> {len(self.rows)} selected by coverage gain ({self.seconds:.1f} s)")

    def _auto_note(self) -> str:
        return f" (--min-images {self.min_images_setting()})" if self.params.min_images is None else ""

    def coverage_lines(self) -> list[str]:
        """What the vocabulary reaches, and what kept the rest out (counts per reason)."""
        out = [f"coverage: {self.songs_covered}/{self.songs_total} songs ({self.song_coverage:.1%}) and "
               f"{self.images_covered}/{self.tagged_images} tagged images ({self.image_coverage:.1%}) contain or "
               f"reach >= 1 keyword"] + ([self.stop] if self.stop else [])
        for what, reasons in self.blocked.items():
            if reasons:
                out.append(f"{what} not covered, by reason: "
                           + "; ".join(f"{r}: {n}" for r, n in sorted(reasons.items(), key=lambda kv: -kv[1])))
        if self.unreached:
            out.append("commonest texts of the images that reach no lyric word (images): "
                       + ", ".join(f"{t} ({n})" for t, n in self.unreached)
                       + "; a corpus lexicon.tsv (english<TAB>keyword per line) links such a word by hand")
        if self.model_lost:
            out.append(f"the edge model dropped every edge of {sum(n for _, n, _ in self.model_lost)} tagged images;"
                       " the likeliest of each (images, best P(right)): "
                       + ", ".join(f"{w} ({n}, {pr:.3f})" for w, n, pr in self.model_lost[:10])
                       + "; a lower --edge-threshold keeps the likelier of them, --no-edge-model every edge the "
                       "bridge draws")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"rule": RULE, "params": asdict(self.params), "corpus": self.corpus, "songs": self.songs_total,
                "images": self.images_total, "tagged_images": self.tagged_images,
                "songs_covered": self.songs_covered, "images_covered": self.images_covered,
                "funnel": self.funnel, "dropped": self.dropped, "blocked": self.blocked, "stop": self.stop,
                "min_images": self.min_images, "eligible_at": self.eligible_at,
                "model_lost": [{"keyword": w, "images": n, "best_p": round(pr, 4)} for w, n, pr in self.model_lost],
                "keywords": [asdict(r) for r in self.rows]}


def candidate_words(corpus: Corpus, bridge: Bridge, max_chars: int = SelectionParams.max_chars,
                    progress: bool = True) -> tuple[Counter[str], dict[str, list[str]]]:
    """(songs per content word of titles and lyrics, the characters `character_candidates` adds): rule step 1."""
    freq: Counter[str] = Counter()
    for song in tqdm(corpus.songs, desc="candidate words", unit="song", disable=not progress, leave=False):
        words = content_words(f"{song.title}\n{song.lyrics}", song.language)
        freq.update({w for w in words if not is_cjk(w) or len(w) <= max_chars})
    return freq, character_candidates(freq, freq, bridge)


def select_keywords(corpus: Corpus, num: int | None = SelectionParams.num,
                    min_images: int | None = SelectionParams.min_images,
                    min_songs: int = SelectionParams.min_songs,
                    max_song_share: float = SelectionParams.max_song_share,
                    max_chars: int = SelectionParams.max_chars, bridge: Bridge | None = None,
                    progress: bool = True, song_weight: float = SelectionParams.song_weight,
                    repeat_discount: float = SelectionParams.repeat_discount,
                    confidence_floor: float | None = SelectionParams.confidence_floor,
                    kind_confidence: float = SelectionParams.kind_confidence,
                    min_num: int = SelectionParams.min_num, max_num: int = SelectionParams.max_num,
                    min_new_images: float = SelectionParams.min_new_images) -> KeywordSelection:
    """Propose the keyword vocabulary of a corpus (see the module docstring for the rule; num None: auto)."""
    t0 = time.perf_counter()
    p = SelectionParams(num, min_num, max_num, min_new_images, min_images, min_songs, max_song_share, max_chars,
                        song_weight, repeat_discount, confidence_floor, kind_confidence)
    bridge = bridge or Bridge.for_corpus(corpus)
    n_songs = len(corpus.songs)
    freq, chars = candidate_words(corpus, bridge, max_chars, progress)
    candidates = frozenset(freq) | frozenset(chars)

    support: Counter[str] = Counter()
    sources: dict[str, Counter[str]] = {}
    image_sets: dict[str, set[int]] = {}
    image_conf: dict[str, dict[int, float]] = {}  # word -> image -> the edge's confidence (graph.confidence)
    image_words: list[set[str]] = []
    model_lost: dict[int, dict[str, float]] = {}  # image -> P of each edge, where the edge model dropped them all
    tagged = [k for k, img in enumerate(corpus.images) if img.tags or (img.caption or "").strip()]
    prepare_images(bridge, corpus.images)  # the edge model's encoder: every description in one batch
    for k, img in enumerate(tqdm(corpus.images, desc="image reach", unit="image", disable=not progress,
                                 leave=False)):
        probs: dict[str, float] = {}  # the edge model's P(right) per kept edge (graph.edge_model), when it is on
        lost: dict[str, float] = {}  # ... and per edge it dropped
        weights, why = image_keywords(img, bridge, candidates, probs=probs, dropped=lost)
        image_words.append(set(why))
        if lost and not why:
            model_lost[k] = lost
        support.update(why.keys())
        kinds = (kind_only(img, bridge, why) if confidence_floor is not None and kind_confidence < 1.0 and not probs
                 else set())
        for kw, texts in why.items():
            sources.setdefault(kw, Counter()).update(texts)
            image_sets.setdefault(kw, set()).add(k)
            image_conf.setdefault(kw, {})[k] = edge_confidence(weights[kw], len(texts), confidence_floor,
                                                               kw in kinds, kind_confidence, probs.get(kw))

    # song occurrences of every word some image reaches (graph.occurrences: what the network links, a hit counts)
    matcher = Matcher(sorted(support))
    song_sets: dict[str, set[int]] = {}
    song_words: list[set[str]] = []
    for k, song in enumerate(tqdm(corpus.songs, desc="keyword song counts", unit="song", disable=not progress,
                                  leave=False)):
        got = set(matcher.counts(song.lyrics))
        song_words.append(got)
        for w in got:
            song_sets.setdefault(w, set()).add(k)
    songs = Counter({w: len(s) for w, s in song_sets.items()})
    max_songs = max_song_share * n_songs
    wanted = p.min_num if num is None else num
    eligible_at: dict[int, int] = {}
    for floor in (MIN_IMAGES_STEPS if min_images is None else (min_images,)):
        reached = {w for w, k in support.items() if k >= floor}
        eligible = {w for w in reached if min_songs <= songs[w] <= max_songs}
        eligible_at[floor] = len(eligible)
        if len(eligible) >= wanted:
            break
    min_images = floor

    unit = (1.0 - song_weight) / max(len(tagged), 1)  # the objective's weight of one tagged image
    picked, stop = cover_until({w: song_sets.get(w, set()) for w in eligible},
                               {w: image_conf[w] for w in eligible}, n_songs, len(tagged),
                               p.max_num if num is None else num, song_weight, repeat_discount,
                               tie={w: float(songs[w]) for w in eligible},
                               floor=p.min_num if num is None else None, min_gain=min_new_images * unit)
    rows, cov_s, cov_i = [], set(), set()
    for w, g in picked:
        cov_s |= song_sets.get(w, set())
        cov_i |= image_sets[w]
        rows.append(KeywordRow(w, songs[w], round(songs[w] / max(n_songs, 1), 4), support[w],
                               tuple(t for t, _ in sources[w].most_common(3)), round(g, 5), len(cov_s), len(cov_i)))

    blocked: dict[str, dict[str, int]] = {"songs": {}, "images": {}}
    lost_reason = model_lost_reason(bridge)
    for what, items, covered, idx in (("songs", song_words, cov_s, range(n_songs)), ("images", image_words,
                                                                                       cov_i, tagged)):
        counts: Counter[str] = Counter()
        for k in idx:
            if k in covered:
                continue
            if what == "images" and k in model_lost:
                counts[lost_reason] += 1
            else:
                counts[stage_reason(items[k], support, songs, p, n_songs, eligible, what, len(rows),
                                     min_images)] += 1
        blocked[what] = dict(counts)
    # an image the edge model left with no edge does reach lyric words (its dropped ones): not among the unreached
    drawn = [w or set(model_lost.get(k, ())) for k, w in enumerate(image_words)]
    unreached = unreached_texts(corpus, bridge, drawn, tagged)
    if len(tagged) < len(corpus.images):
        blocked["images"]["no tag and no caption"] = len(corpus.images) - len(tagged)
    stopped = stop_line(p, len(rows), len(eligible), stop, unit, len(image_sets.get(stop.word, set()) - cov_i))

    top = [w for w, _ in freq.most_common(200)]
    dropped = {
        f"reached by < {min_images} images": [w for w in top if w not in reached][:10],
        f"in > {max_song_share:.0%} of songs": [w for w in sorted(reached, key=lambda w: (-songs[w], w))
                                                 if songs[w] > max_songs][:10],
        f"in < {min_songs} songs": [w for w in sorted(reached, key=lambda w: (-support[w], w))
                                    if songs[w] < min_songs][:10],
    }
    funnel = {"candidates": len(candidates), "characters": len(chars), "reached by images": len(reached),
              "within song limits": len(eligible), "selected": len(rows)}
    return KeywordSelection(rows, p, str(corpus.root), n_songs, len(corpus.images), funnel,
                            {k: v for k, v in dropped.items() if v}, time.perf_counter() - t0,
                            len(tagged), len(cov_s), len(cov_i), blocked, stopped, min_images,
                            eligible_at if p.min_images is None else {}, bridge.edge_model,
                            bridge.kind_backoff, unreached=unreached, edge_threshold=bridge.edge_threshold,
                            model_lost=likeliest_dropped([model_lost[k] for k in tagged if k in model_lost]))
