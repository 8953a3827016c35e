"""The keyword selection's hyperparameters (graph.vocabulary's rule), each default stated once, each validated."""
from __future__ import annotations

from dataclasses import dataclass

from graph.common.errors import Img2SongError
from graph.confidence import CONFIDENCE_FLOOR, KIND_CONFIDENCE
from graph.cover import AUTO


@dataclass(frozen=True)
class SelectionParams:
    """Selection hyperparameters; each default is stated here once (the CLI reads them from here)."""

    num: int | None = 72  # a fixed count, the paper's: at most this many keywords, the greedy's first num; None
    # ("--num auto"): the coverage-driven count of the three fields below, opt-in since its words past the floor
    # are rarer and less surely meant: in the blind sample fresh13 (tests/fixtures/sense_labels.tsv) the edges
    # to the words auto added past 72 were right for 20 of 36, those to the first 72 for 141 of 164
    min_num: int = 72  # auto: the paper's keyword count, kept as a floor (when that many words are eligible)
    max_num: int = 288  # auto: the cap, four times the paper's count: the keyword probe and the LSTM's keyword
    # output grow linearly with it (one weight column per keyword), and a keyword needs min_images images of its own
    min_new_images: float = 3.0  # auto: past min_num, a word joins while it first-covers at least this many
    # tagged images' worth (an image counts its edge's confidence above the best it had; songs do not count: a
    # song without a keyword keeps its lyric-word edges): the min_images any keyword needs, so no added word
    # covers less new ground than the smallest keyword the rule admits
    min_images: int | None = None  # images that must reach a keyword; None ("--min-images auto"): the first of
    # MIN_IMAGES_STEPS (3, 1) at which at least the keywords asked for (num; min_num for --num auto) are eligible,
    # else the last. Three lets a keyword's images serve the evaluation (2 stay in training, one is a query:
    # graph.build.split_queries); a catalogue whose images show fewer than that many things three times (photos
    # named one by one: most things once or twice) would otherwise get a handful of keywords and leave most images
    # unlinked. Below 3 no floor lets a keyword's images be queries, so 2 serves no better than 1: a word one image
    # reaches still links that image to its songs in the network, and the greedy weighs it by what it covers
    min_songs: int = 3  # fewer songs: a hit is luck, and the word barely links songs
    max_song_share: float = 0.10  # a word in more songs is contained by one in ten random songs
    max_chars: int = 4  # longer Chinese "words" are phrases, not keywords
    song_weight: float = 1 / 3  # share of the coverage gain from songs (the rest from tagged images): an image
    # counts double, since a song without a keyword still has its lyric-word edges (graph.context) and an image
    # without one has nothing
    repeat_discount: float = 0.25  # gain of covering an item again, relative to the previous time: a new song or
    # image is worth four times a second keyword for one already covered (synonyms of one sense add little)
    confidence_floor: float | None = CONFIDENCE_FLOOR  # an image counts for a word by its edge's confidence
    # (graph.confidence): the bridge's weight per text that reached it, w, as (w - floor) / (1 - floor) clipped to
    # [0, 1]; None: every reached image counts 1 (the unweighted rule)
    kind_confidence: float = KIND_CONFIDENCE  # factor on w for an edge only a WordNet kind of the tag draws

    def __post_init__(self) -> None:
        if self.num is not None and self.num < 1:
            raise Img2SongError(f"--num must be at least 1 or '{AUTO}', got {self.num}")
        if not 1 <= self.min_num <= self.max_num:
            raise Img2SongError(f"--min-num and --max-num must satisfy 1 <= min-num <= max-num, got "
                                f"{self.min_num} and {self.max_num}")
        if not self.min_new_images > 0.0:
            raise Img2SongError(f"--min-new-images must be > 0, got {self.min_new_images}")
        if (self.min_images is not None and self.min_images < 1) or self.min_songs < 1:
            raise Img2SongError("--min-images and --min-songs must be at least 1")
        if not 0.0 < self.max_song_share <= 1.0:
            raise Img2SongError(f"--max-song-share must be in (0, 1], got {self.max_song_share}")
        if not 0.0 <= self.song_weight <= 1.0:
            raise Img2SongError(f"--song-weight must be in [0, 1], got {self.song_weight}")
        if not 0.0 <= self.repeat_discount < 1.0:
            raise Img2SongError(f"--repeat-discount must be in [0, 1), got {self.repeat_discount}")
        if self.confidence_floor is not None and not 0.0 <= self.confidence_floor < 1.0:
            raise Img2SongError(f"confidence_floor must be in [0, 1) or None, got {self.confidence_floor}")
        if not 0.0 < self.kind_confidence <= 1.0:
            raise Img2SongError(f"kind_confidence must be in (0, 1], got {self.kind_confidence}")
