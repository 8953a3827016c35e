"""`img2song bridge WORD...`: what each word reaches through the bilingual bridge (graph.bridge), with the
relatedness weight of every candidate and why the winners won (dictionary sense, WordNet kind path, context), and
what the edge model (graph.edge_model) makes of the drawn ones: its P(right) and whether the build keeps the edge;
with a corpus's keywords, where a word reaches none of them, what the kind back-off (graph.kinds) draws instead."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import typer

from evaluation.app.commands.options import EdgeModel, EdgeThreshold, KindBackoff
from graph import edge_model
from graph.bridge import DEFAULT_EDGE_MODEL, DEFAULT_EDGE_THRESHOLD, DEFAULT_KIND_BACKOFF, Bridge
from graph.captions import image_keywords, readable_image
from graph.common.errors import Img2SongError
from graph.corpus import load_corpus
from graph.occurrences import is_cjk_word
from graph.records import Image
from graph.senses import EDGE_THRESHOLD, Scored, bag
from graph.tag_text import describe


def _language(text: str) -> str:
    return "zh" if is_cjk_word(text) else "en"


def edge_model_line(word: str, context: str, bridge: Bridge, candidates: frozenset[str]) -> str:
    """What the edge model says of the edges an image tagged `word` (caption `context`) draws to `candidates`:
    each keyword's P(right), and which the build drops (below the bridge's cut: --edge-threshold, else the model's)."""
    if not bridge.edge_model:
        return "  edge model: off (--no-edge-model): every edge drawn above is kept"
    img = readable_image(_image(word, context), bridge)
    counts, why = image_keywords(img, bridge, candidates, model=False)
    if not why:
        return "  edge model: no edge drawn"
    p = edge_model.edge_probabilities(img, bridge, counts, why)
    cut = edge_model.cut(bridge.edge_threshold)
    kept = [f"{k} {p[k]:.2f}" for k in sorted(p, key=lambda k: -p[k]) if p[k] >= cut]
    dropped = [f"{k} {p[k]:.2f}" for k in sorted(p, key=lambda k: -p[k]) if p[k] < cut]
    description = describe(img)
    order = sorted(p, key=lambda k: -p[k])
    related = edge_model.related_features(bridge, description, order)
    return (f"  edge model P(right), threshold {edge_model.cut_text(bridge.edge_threshold)}: kept "
            + (", ".join(kept) or "none")
            + ("; dropped " + ", ".join(dropped) if dropped else "")
            + f"\n  text encoder's relatedness to '{description}' (two of the model's features; cosine minus the "
            "description's pool): " + ", ".join(f"{k} word {w:+.3f} gloss {g:+.3f}"
                                                for k, (w, g) in zip(order, related)))


def kind_line(word: str, context: str, bridge: Bridge, keywords: frozenset[str]) -> str | None:
    """What the kind back-off (graph.kinds) draws for an image tagged `word` (caption `context`) that reaches none
    of a corpus's `keywords` directly (None when it reaches one: the back-off does not run)."""
    img = readable_image(_image(word, context), bridge)
    if image_keywords(img, bridge, keywords, kinds=False, model=False)[0]:
        return None
    if not bridge.kind_backoff:
        return f"  kind back-off: off (--no-kind-backoff): an image tagged only '{word}' gets no edge"
    counts, why = image_keywords(img, bridge, keywords, kinds=True, model=False)
    if not why:
        return f"  kind back-off: no kind of '{word}' reaches a keyword of the corpus"
    if not bridge.edge_model:
        verdict = dict.fromkeys(why, "edge model off: kept")
    else:
        p, cut = edge_model.edge_probabilities(img, bridge, counts, why), edge_model.cut(bridge.edge_threshold)
        verdict = {kw: f"edge model P(right) {p[kw]:.2f}: {'kept' if p[kw] >= cut else 'dropped'}" for kw in why}
    return "  kind back-off: " + "; ".join(f"{kw} via {', '.join(w)}, {verdict[kw]}" for kw, w in why.items())


def _image(word: str, context: str) -> Image:
    """The one-image record `img2song bridge` asks about: tagged `word`, captioned `context`."""
    return Image("bridge", "", tags=(word,), caption=context.strip(), language=_language(context),
                 tag_language=_language(word))


def explain_words(words: list[str], corpus: Path | None = None, echo: Callable[[str], None] = print,
                  context: str = "", limit: int = 12, encoder: bool = True,
                  edge_model: bool = DEFAULT_EDGE_MODEL,
                  kind_backoff: bool = DEFAULT_KIND_BACKOFF,
                  edge_threshold: float | None = DEFAULT_EDGE_THRESHOLD) -> dict[str, list[Scored]]:
    """Every candidate of each word, best first, with its weight and why (a corpus's lexicon.tsv first, then
    CC-CEDICT senses weighted in `context` and WordNet kinds, then, with `encoder`, the text encoder's relatedness
    of each kept candidate to 'WORD, context'); edges are drawn at weight >= EDGE_THRESHOLD, and with `edge_model`
    the build drops those the edge model's line calls dropped (below `edge_threshold`, None: the model file's);
    with a corpus that fixes its keywords, a word reaching none of them gets the kind back-off's line
    (`kind_backoff`: on or off, as build-graph's --kind-backoff)."""
    if not words:
        raise Img2SongError("give at least one word, e.g. `img2song bridge moon 月`")
    if limit < 1:
        raise Img2SongError(f"--limit must be >= 1, got {limit}")
    loaded = load_corpus(corpus, check_files=False) if corpus else None
    kwargs: dict = {"edge_model": edge_model, "kind_backoff": kind_backoff, "edge_threshold": edge_threshold}
    if encoder:
        from graph.text.relatedness import E5Relatedness

        kwargs["relatedness"] = E5Relatedness()
    # with a corpus: its lexicon.tsv and how its lyrics use each word (graph.usage)
    bridge = Bridge.for_corpus(loaded, **kwargs) if loaded is not None else Bridge({}, **kwargs)
    keywords = frozenset(loaded.keywords or []) if loaded is not None else frozenset()
    echo(bridge.relatedness_line().split(",")[0])
    ctx = bag(context)
    out = {}
    for w in words:
        reach = bridge.explain(w, ctx, ", ".join(x for x in (w, context.strip()) if x))
        out[w] = reach
        kept = [r for r in reach if r.kept]
        echo(f"{w}: reaches {len(kept)} word(s) at weight >= {EDGE_THRESHOLD}"
             + (": " + ", ".join(r.target for r in kept) if kept else "")
             + f" ({len(reach)} candidate(s){'; context: ' + ', '.join(sorted(ctx)) if ctx else ''})")
        for r in reach[:limit]:
            mark = "*" if r.kept else " "
            via = f"  (via {r.source})" if r.source and r.source not in (w, "") else ""
            echo(f"  {mark} {r.weight:.2f}  {r.target}\t{r.rule}\t{r.why}{via}")
        if len(reach) > limit:
            echo(f"    ... {len(reach) - limit} more below (--limit)")
        if kept:
            echo(edge_model_line(w, context, bridge, frozenset(r.target for r in kept)))
        if keywords and (line := kind_line(w, context, bridge, keywords)):
            echo(line)
    return out


def register(app: typer.Typer, bench_app: typer.Typer) -> None:
    @app.command("bridge")
    def bridge_cmd(
        words: list[str] = typer.Argument(None, help="English or Chinese words or phrases"),
        corpus: Path | None = typer.Option(None, help="also apply this corpus's lexicon.tsv and how its lyrics use each word"),
        context: str = typer.Option("", help="other tags or a caption the words' senses are chosen in"),
        limit: int = typer.Option(12, help="candidates printed per word (best first)"),
        encoder: bool = typer.Option(True, help="weigh kept candidates by the text encoder's relatedness to "
                                                "'WORD, context' (--no-encoder: dictionary and WordNet only)"),
        edge_model: EdgeModel = DEFAULT_EDGE_MODEL,
        kind_backoff: KindBackoff = DEFAULT_KIND_BACKOFF,
        edge_threshold: EdgeThreshold = DEFAULT_EDGE_THRESHOLD,
    ) -> None:
        """Print each word's candidate keywords with their relatedness weights (* = an edge is drawn) and why, and
        the edge model's P(right) of each drawn edge (below its threshold the build drops the edge), and, for a word
        reaching none of --corpus's keywords, what the kind back-off draws instead."""
        explain_words(list(words or []), corpus, echo=typer.echo, context=context, limit=limit, encoder=encoder,
                      edge_model=edge_model, kind_backoff=kind_backoff, edge_threshold=edge_threshold)
