"""`img2song bridge WORD...`: what each word reaches through the bilingual bridge (graph.bridge), and why."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from graph.bridge import Bridge, Reach
from graph.common.errors import Img2SongError
from graph.corpus import load_corpus


def explain_words(words: list[str], corpus: Path | None = None, echo: Callable[[str], None] = print
                  ) -> dict[str, list[Reach]]:
    """What each word reaches through the bridge (a corpus's lexicon.tsv first, then CC-CEDICT), and why."""
    if not words:
        raise Img2SongError("give at least one word, e.g. `img2song bridge moon 月`")
    lexicon = load_corpus(corpus, check_files=False).lexicon if corpus else {}
    bridge = Bridge(lexicon)
    out = {}
    for w in words:
        reach = bridge.explain(w)
        out[w] = reach
        echo(f"{w}: reaches {len(reach)} word(s)" + (": " + ", ".join(r.target for r in reach) if reach else ""))
        for r in reach:
            echo(f"  {r.target}\t{r.rule}\t{r.detail}" + (f"\t(via {r.source})" if r.source != w else ""))
    return out


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("bridge")
    def bridge_cmd(
        words: list[str] = typer.Argument(None, help="English or Chinese words or phrases"),
        corpus: Path | None = typer.Option(None, help="also apply this corpus's lexicon.tsv"),
    ) -> None:
        """Print what each word reaches through the bilingual bridge (lexicon.tsv, then CC-CEDICT) and why."""
        explain_words(list(words or []), corpus, echo=typer.echo)
