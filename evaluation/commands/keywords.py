"""`img2song keywords`: propose a corpus's keyword vocabulary (graph.vocabulary) and write it where --out says."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from graph.common.errors import Img2SongError
from graph.corpus import KEYWORDS_FILE, load_corpus
from graph.vocabulary import KeywordSelection, select_keywords


def propose_keywords(corpus: Path, out: Path, num: int = 72, min_images: int = 5, min_songs: int = 10,
                     max_song_share: float = 0.05, echo: Callable[[str], None] = print) -> KeywordSelection:
    """Select the keyword vocabulary of a corpus, print the table, write it to `out` (never elsewhere)."""
    out = Path(out)
    if out.is_dir():
        raise Img2SongError(f"--out {out}: is a directory; give a file such as {out / KEYWORDS_FILE}")
    c = load_corpus(corpus, check_files=False)
    for line in c.report.lines():
        echo(line)
    sel = select_keywords(c, num=num, min_images=min_images, min_songs=min_songs, max_song_share=max_song_share)
    echo(sel.table())
    echo(sel.summary())
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
        num: int = typer.Option(72, help="how many keywords (the most frequent that pass)"),
        min_images: int = typer.Option(5, help="images that must reach a keyword (tags/caption, via the bridge)"),
        min_songs: int = typer.Option(10, help="songs whose lyrics must contain a keyword"),
        max_song_share: float = typer.Option(0.05, help="largest share of songs that may contain a keyword"),
    ) -> None:
        """Propose a keyword vocabulary: frequent lyric words that images can express and that discriminate."""
        propose_keywords(corpus, out, num, min_images, min_songs, max_song_share, echo=typer.echo)
