"""The export stage: a run's embeddings in every format (evaluation.stages.pipeline re-exports these)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from evaluation.stages.rundir import RunDir, Stage
from graph.common.errors import Img2SongError

Echo = Callable[[str], None]

EXPORTS = {"word2vec": "embeddings.w2v.txt", "word2vec-binary": "embeddings.w2v.bin", "npz": "embeddings.npz",
           "projector": "projector"}


def projector_info(embeddings: str | Path, corpus: str | Path | None = None, echo: Echo = print):
    """Labels and thumbnails for a projector export: from `corpus`, else from the corpus of the run the
    embeddings sit in (run.json beside them); None when there is neither."""
    # deferred: a command loads only its own stage (the sprite needs PIL)
    from engine.projector_sprite import VertexInfo
    from graph.corpus import load_corpus

    if corpus is None:
        run = RunDir(Path(embeddings).parent)
        if not run.manifest.is_file() or "corpus" not in run.read_manifest():
            return None
        corpus = run.corpus_path()
    echo(f"projector: labels and image thumbnails from corpus {corpus}")
    return VertexInfo.from_corpus(load_corpus(corpus, check_files=False))


def export_embeddings(embeddings: str | Path, out: str | Path, format: str, kind: list[str] | None = None,
                      source_format: str | None = None, corpus: str | Path | None = None,
                      echo: Echo = print) -> Path:
    """Load a table (format from its suffix unless given), keep the chosen kinds, write `out` in `format`
    (projector: with a sprite of image thumbnails when the corpus is given or found through the run)."""
    # deferred: a command loads only its own stage (torch alone takes seconds to import)
    from engine.embeddings import FORMATS, EmbeddingTable

    if format not in FORMATS:
        raise Img2SongError(f"--format must be one of {', '.join(FORMATS)}, got {format!r}")
    if Path(embeddings).is_file():  # a run's embeddings.npz of an interrupted train is refused
        RunDir(Path(embeddings).parent).check_embeddings()
    table = EmbeddingTable.load(embeddings, source_format)
    if kind:
        table = table.select(kind)
        if not len(table):
            raise Img2SongError(f"{embeddings}: no vertices of kind {', '.join(kind)}")
    info = projector_info(embeddings, corpus, echo) if format == "projector" else None
    path = table.save(out, format, vertex_info=info)
    echo(f"wrote {len(table)} vectors (dim {table.dim}) as {format} to {path}"
         + (" (sprite.png: one tile per vertex, images as pictures)" if info is not None else ""))
    for line in info.skips.skip_lines() if info is not None else []:
        echo(f"projector sprite: {line}")
    return path


def export_run(run: RunDir | str | Path, echo: Echo = print) -> dict[str, Path]:
    """The run's embeddings in every format (and the songs alone as word2vec text) into <run>/export/."""
    r = RunDir.of(run)
    paths = {fmt: export_embeddings(r.embeddings, r.export_dir / name, fmt, echo=echo) for fmt, name in EXPORTS.items()}
    paths["songs"] = export_embeddings(r.embeddings, r.export_dir / "songs.w2v.txt", "word2vec", kind=["song"],
                                       echo=echo)
    r.record(Stage.EXPORT, {"formats": list(EXPORTS)}, paths)
    return paths
