"""RunDir's build-graph and train artefacts: network, split, keywords, the LINE table and its raw per-order tables.

A mixin of evaluation.stages.rundir.RunDir (which alone knows the paths): one save_X / load_X pair per artefact.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluation.stages.rundir_io import INCOMPLETE, read_json
from graph.build import KeywordFile, Split
from graph.common.atomic import atomic_path, write_json
from graph.common.errors import Img2SongError
from graph.common.readers import load_npz

if TYPE_CHECKING:
    from engine.embeddings import EmbeddingTable
    from engine.line.foldin import LineTables
    from graph.network import Network
    from graph.vocabulary import KeywordSelection


class GraphFiles:
    """build-graph's and train's files of a run."""

    # ---------------------------------------------------------------------------------- build-graph's files
    def save_network(self, network: Network) -> Path:
        return network.save(self.network)

    def load_network(self) -> Network:
        from graph.network import Network

        return Network.load(self.network)

    def save_network_stats(self, stats: dict[str, Any]) -> Path:
        return write_json(self.network_stats, stats)

    def save_split(self, split: Split) -> Path:
        return write_json(self.split, {"train": list(split.train), "query": list(split.query)})

    def load_split(self) -> Split:
        doc = read_json(self.split, "train/query split", "written by `img2song build-graph`")
        for key in ("train", "query"):
            if not isinstance(doc, dict) or not isinstance(doc.get(key), list):
                raise Img2SongError(f"{self.split}: field '{key}' must be a list of image ids")
        return Split([str(i) for i in doc["train"]], [str(i) for i in doc["query"]])

    def save_keywords(self, keywords: KeywordFile) -> Path:
        return write_json(self.keywords, {"vocabulary": list(keywords.vocabulary), "images": keywords.images,
                                          "songs": keywords.songs})

    def save_selected_keywords(self, selection: KeywordSelection) -> Path:
        """keywords.txt: the vocabulary build-graph selected (no keywords.txt in the corpus), ready to copy and edit."""
        return selection.write(self.selected_keywords)

    def load_keywords(self) -> KeywordFile:
        doc = read_json(self.keywords, "keyword file", "written by `img2song build-graph`")
        for key in ("images", "songs"):
            if not isinstance(doc, dict) or not isinstance(doc.get(key), dict):
                raise Img2SongError(f"{self.keywords}: field '{key}' must map ids to {{keyword: weight}}")
        vocab = doc.get("vocabulary")
        if not isinstance(vocab, list):
            raise Img2SongError(f"{self.keywords}: field 'vocabulary' must be a list of keywords")

        def table(key: str) -> dict[str, dict[str, float]]:
            out: dict[str, dict[str, float]] = {}
            for i, kw in doc[key].items():
                if not isinstance(kw, dict) or not all(isinstance(w, (int, float)) and not isinstance(w, bool)
                                                       for w in kw.values()):
                    raise Img2SongError(f"{self.keywords}: field '{key}.{i}' must map keywords to numbers")
                out[str(i)] = {str(k): float(w) for k, w in kw.items()}
            return out

        return KeywordFile([str(w) for w in vocab], table("images"), table("songs"))

    def vocabulary(self, network: Network | None = None) -> list[str]:
        """Keyword vocabulary (tag-vector order): keywords.json 'vocabulary', else the network's keywords."""
        try:
            return self.load_keywords().vocabulary
        except Img2SongError:
            if not self.keywords.is_file():
                raise
        from graph.network import Kind

        net = network or self.load_network()
        return [net.ids[i][len("kw:"):] for i in net.of_kind(Kind.KEYWORD)]

    # ------------------------------------------------------------------------------------ LINE embeddings
    def save_embeddings(self, table: EmbeddingTable, record: dict[str, Any],
                        tables: dict[str, Any] | None = None) -> tuple[Path, Path]:
        """embeddings.npz (and `tables`, LINE's raw per-order arrays, into line_tables.npz) and line.json as one
        set: line.json says 'incomplete' while they are rewritten and is replaced by `record` after, so a reader
        never takes the tables of a killed train for a finished one."""
        write_json(self.line_record, {"status": INCOMPLETE, "source": record.get("source", "")}, indent=2)
        emb = table.save(self.embeddings, "npz")
        if tables is not None:
            import numpy as np

            with atomic_path(self.line_tables, suffix=".npz") as tmp:
                np.savez(tmp, **tables)
        return emb, write_json(self.line_record, {"status": "complete", **record, "embeddings": str(emb)}, indent=2)

    def load_line_tables(self) -> LineTables:
        """The raw LINE tables of both orders (`img2song add` folds new vertices in against them)."""
        from engine.line.foldin import tables_from_arrays  # deferred: torch

        if not self.line_tables.is_file():
            raise Img2SongError(f"{self.line_tables}: the run keeps no raw LINE tables, which a fold-in needs; "
                                f"rerun `img2song train --run {self.path}` (train writes them beside embeddings.npz)")
        self.check_embeddings()
        arrays = load_npz(self.line_tables, "LINE tables", ["ids", "degrees", "params", "lr"],
                          ["vertex1", "vertex2", "context2"])
        return tables_from_arrays(arrays, str(self.line_tables))

    def check_embeddings(self) -> None:
        """Refuse embeddings.npz when line.json says its train was interrupted while writing the pair (no
        line.json: accepted, a table written by other means)."""
        if not self.line_record.is_file():
            return
        rec = read_json(self.line_record, "LINE training record")
        if not isinstance(rec, dict) or rec.get("status") == INCOMPLETE:
            raise Img2SongError(f"{self.line_record}: the train that wrote {self.embeddings.name} did not finish; "
                                f"rerun `img2song train` (with --resume to continue from its checkpoint)")

    def load_embeddings(self) -> EmbeddingTable | None:
        """The run's LINE table (None before `train`); an interrupted train's table is an error."""
        if not self.embeddings.is_file():
            return None
        from engine.embeddings import EmbeddingTable  # deferred: torch

        self.check_embeddings()
        return EmbeddingTable.load(self.embeddings)

