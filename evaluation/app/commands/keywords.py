"""`img2song keywords`: propose a corpus's keyword vocabulary (graph.vocabulary) and write it where --out says."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from evaluation.app.commands.options import EdgeModel, EdgeThreshold, KindBackoff
from evaluation.stages.pipeline import SENSE_ENCODER, corpus_bridge
from graph import kinds
from graph.bridge import DEFAULT_EDGE_MODEL, DEFAULT_EDGE_THRESHOLD, DEFAULT_KIND_BACKOFF
from graph.common.errors import Img2SongError
from graph.corpus import KEYWORDS_FILE, load_corpus
from graph.edge_model import setting_line
from graph.vocabulary import AUTO, MIN_IMAGES_STEPS, KeywordSelection, SelectionParams, select_keywords

_D = SelectionParams  # the defaults, stated once there


def parse_auto(text: str, option: str) -> int | None:
    """An option that takes 'auto' (None: --num's coverage-driven count, --min-images' stepped floor) or a whole
    number >= 1 (used as given)."""
    if text.strip().lower() == AUTO:
        return None
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise Img2SongError(f"{option} must be '{AUTO}' or a whole number >= 1, got {text!r}")
    return n


def parse_num(text: str) -> int | None:
    """--num: 'auto' (None: the coverage-driven count) or a whole number >= 1 (a fixed count, as before)."""
    return parse_auto(text, "--num")


def propose_keywords(corpus: Path, out: Path, num: int | None = _D.num, min_images: int | None = _D.min_images,
                     min_songs: int = _D.min_songs, max_song_share: float = _D.max_song_share,
                     echo: Callable[[str], None] = print, song_weight: float = _D.song_weight,
                     repeat_discount: float = _D.repeat_discount, sense_encoder: bool | None = None,
                     min_num: int = _D.min_num, max_num: int = _D.max_num,
                     min_new_images: float = _D.min_new_images,
                     edge_model: bool = DEFAULT_EDGE_MODEL,
                     kind_backoff: bool = DEFAULT_KIND_BACKOFF,
                     edge_threshold: float | None = DEFAULT_EDGE_THRESHOLD) -> KeywordSelection:
    """Select the keyword vocabulary of a corpus, print the table and the coverage, write it to `out` only
    (`sense_encoder`: images reach words through the bridge build-graph uses; None: build-graph's default;
    `edge_model`: the edge model drops weak image edges, as build-graph's --edge-model; `kind_backoff`: as its
    --kind-backoff; `edge_threshold`: as its --edge-threshold)."""
    out = Path(out)
    if out.is_dir():
        raise Img2SongError(f"--out {out}: is a directory; give a file such as {out / KEYWORDS_FILE}")
    c = load_corpus(corpus, check_files=False)
    for line in c.report.lines():
        echo(line)
    bridge = corpus_bridge(c, SENSE_ENCODER if sense_encoder is None else sense_encoder, echo, edge_model,
                           kind_backoff, edge_threshold)
    sel = select_keywords(c, num=num, min_images=min_images, min_songs=min_songs, max_song_share=max_song_share,
                          song_weight=song_weight, repeat_discount=repeat_discount, bridge=bridge, min_num=min_num,
                          max_num=max_num, min_new_images=min_new_images)
    echo(bridge.relatedness_line())
    echo(setting_line(bridge.edge_model, bridge.edge_threshold))
    echo(kinds.setting_line(bridge.kind_backoff))
    echo(sel.table())
    echo(sel.summary())
    for line in sel.coverage_lines():
        echo(line)
    for reason, words in sel.dropped.items():
        echo(f"dropped ({reason}), most frequent: {', '.join(words)}")
    if not sel.rows:
        raise Img2SongError(f"{corpus}: no word passes the rule ({sel.summary()}); "
                            "lower --min-images / --min-songs or raise --max-song-share")
    echo(f"wrote {len(sel.rows)} keywords to {sel.write(out)}")
    return sel


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("keywords")
    def keywords_cmd(
        corpus: Path = typer.Option(..., help="corpus directory (songs.jsonl, images.jsonl, images/)"),
        out: Path = typer.Option(..., help="keywords file to write, e.g. DIR/keywords.txt (build-graph reads it)"),
        num: str = typer.Option(str(_D.num), help="a number N: at most N keywords, picked by coverage gain (the "
                                f"paper's {_D.num}); '{AUTO}': as many as coverage asks (--min-num, then while a word "
                                "first-covers --min-new-images tagged images' worth, at most --max-num; the words it "
                                "adds are rarer and less surely meant)"),
        min_num: int = typer.Option(_D.min_num, help=f"--num {AUTO}: keywords picked by coverage gain before the "
                                    "coverage rule may stop (the paper's 72), when that many are eligible"),
        max_num: int = typer.Option(_D.max_num, help=f"--num {AUTO}: at most this many keywords (the probe and "
                                    "the LSTM get one output per keyword)"),
        min_new_images: float = typer.Option(_D.min_new_images,
                                             help=f"--num {AUTO}: past --min-num, a word joins while it covers "
                                                  "at least this many tagged images' worth that no keyword "
                                                  "reaches yet (by the edges' confidence; songs not counted)"),
        min_images: str = typer.Option(AUTO, help="a number N: images that must reach a keyword (tags/caption, via "
                                       f"the bridge); '{AUTO}': {MIN_IMAGES_STEPS[0]} (a keyword's images can then "
                                       f"serve as queries), or {MIN_IMAGES_STEPS[-1]} when fewer words than --num "
                                       "pass at that (photos named one by one show most things once or twice)"),
        min_songs: int = typer.Option(_D.min_songs, help="songs whose lyrics must contain a keyword"),
        max_song_share: float = typer.Option(_D.max_song_share,
                                             help="largest share of songs that may contain a keyword"),
        song_weight: float = typer.Option(_D.song_weight,
                                          help="share of the coverage gain from songs (the rest: tagged images)"),
        repeat_discount: float = typer.Option(_D.repeat_discount,
                                              help="gain of covering a song or image again, relative to the "
                                                   "previous time (0: plain set cover)"),
        sense_encoder: bool = typer.Option(SENSE_ENCODER, "--sense-encoder/--no-sense-encoder",
                                           help="images reach words through the bridge build-graph uses, senses "
                                                "weighed by the text encoder (default: as build-graph)"),
        edge_model: EdgeModel = DEFAULT_EDGE_MODEL,
        kind_backoff: KindBackoff = DEFAULT_KIND_BACKOFF,
        edge_threshold: EdgeThreshold = DEFAULT_EDGE_THRESHOLD,
    ) -> None:
        """Propose a keyword vocabulary: lyric words images can express, picked to cover songs and images."""
        propose_keywords(corpus, out, parse_num(num), parse_auto(min_images, "--min-images"), min_songs, max_song_share,
                         echo=typer.echo, song_weight=song_weight, repeat_discount=repeat_discount, sense_encoder=sense_encoder,
                         min_num=min_num, max_num=max_num, min_new_images=min_new_images, edge_model=edge_model,
                         kind_backoff=kind_backoff, edge_threshold=edge_threshold)
