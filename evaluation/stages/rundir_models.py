"""RunDir's model artefacts: CNN features and keyword tags, the keyword probe, the LSTM and its word vectors, saved
scorers.

A mixin of evaluation.stages.rundir.RunDir (which alone knows the paths): one save_X / load_X pair per artefact.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from evaluation.stages.rundir_io import read_json
from graph.common.atomic import remove_stale_temps, write_json
from graph.common.errors import Img2SongError

if TYPE_CHECKING:
    from engine.features.probe import KeywordProbe
    from engine.features.table import FeatureTable
    from engine.lstm.train import LyricTagModel
    from engine.lstm.wordvectors import WordVectors
    from engine.scorers.base import Scorer


class ModelFiles:
    """The features, probe, LSTM and scorer files of a run."""

    # ------------------------------------------------------------------------------------------- features
    def save_features(self, features: FeatureTable, logits: FeatureTable | None, tags: FeatureTable | None,
                      meta: dict[str, Any]) -> dict[str, Path]:
        remove_stale_temps(self.features_dir)
        paths = {"features": features.save(self.features)}
        if logits is not None:
            paths["logits"] = logits.save(self.logits)
        if tags is not None:
            paths["tags"] = tags.save(self.tags)
        paths["meta"] = write_json(self.features_meta, meta)
        return paths

    def _table(self, path: Path) -> FeatureTable | None:
        from engine.features.table import FeatureTable  # deferred: torch

        return FeatureTable.load(path) if path.is_file() else None

    def load_features(self) -> FeatureTable | None:
        return self._table(self.features)

    def load_logits(self) -> FeatureTable | None:
        return self._table(self.logits)

    def load_tags(self, vocabulary: list[str] | None = None) -> tuple[FeatureTable | None, str]:
        """(keyword tags of every image, their source): the keyword probe's when the run has one, else ImageNet
        hypernyms'; tags for another keyword vocabulary (default: the run's) are an error."""
        path, source = ((self.keyword_probs, "keyword-probe") if self.keyword_probs.is_file()
                        else (self.tags, "imagenet-hypernyms"))
        tags = self._table(path)
        if tags is not None and tags.meta.get("vocabulary") != (vocabulary or self.vocabulary()):
            raise Img2SongError(f"{path}: tags were computed for another keyword vocabulary; "
                                f"rerun `img2song features --run {self.path}`")
        return tags, source if tags is not None else ""

    def load_features_meta(self) -> dict[str, Any]:
        """features/features.json ({} when features were not extracted yet)."""
        return read_json(self.features_meta, "feature description") if self.features_meta.is_file() else {}

    def save_keyword_probe(self, probe: KeywordProbe, probs: FeatureTable) -> dict[str, Path]:
        return {"probe": probe.save(self.keyword_probe), "probs": probs.save(self.keyword_probs)}

    def load_keyword_probe(self) -> KeywordProbe | None:
        if not self.keyword_probe.is_file():
            return None
        from engine.features.probe import KeywordProbe  # deferred: torch

        return KeywordProbe.load(self.keyword_probe)

    def load_keyword_probs(self) -> FeatureTable | None:
        return self._table(self.keyword_probs)

    # ------------------------------------------------------------------------------------------------ LSTM
    def save_word_vectors(self, vectors: WordVectors) -> Path:
        return vectors.save(self.word_vectors)

    def load_word_vectors(self) -> WordVectors | None:
        if not self.word_vectors.is_file():
            return None
        from engine.lstm.wordvectors import WordVectors  # deferred: torch

        return WordVectors.load_npz(self.word_vectors)

    def save_lstm(self, model: LyricTagModel) -> Path:
        return model.save(self.lstm_checkpoint(model.attention))

    def load_lstm(self, attention: bool) -> LyricTagModel | None:
        if not self.lstm_checkpoint(attention).is_file():
            return None
        from engine.lstm.train import LyricTagModel  # deferred: torch

        return LyricTagModel.load(self.lstm_checkpoint(attention), device="cpu")

    def save_lstm_retrieval(self, doc: dict[str, Any]) -> Path:
        return write_json(self.lstm_retrieval, doc)

    def load_lstm_retrieval(self) -> dict[str, Any] | None:
        """lstm/retrieval.json (None before `img2song lstm-retrieval`)."""
        return read_json(self.lstm_retrieval, "LSTM retrieval figures") if self.lstm_retrieval.is_file() else None

    # --------------------------------------------------------------------------------------- saved scorers
    def save_scorer(self, name: str, scorer: Scorer, signature: str) -> Path:
        """<run>/scorers/<name>/ (and, for an LSTM scorer, the lyric index its fit built: evaluation.stages.derived)."""
        from evaluation.stages.derived import keep_lyric_index

        path = scorer.save(self.scorer_dir(name), signature=signature)
        keep_lyric_index(self, name, scorer)
        return path

    def load_scorer(self, name: str, echo: Callable[[str], None] | None = None) -> Scorer:
        """The saved scorer, with what the run keeps derived for it (an LSTM scorer's encoded lyrics)."""
        from engine.scorers.persist import load_scorer  # deferred: the scorers pull in torch
        from evaluation.stages.derived import attach_lyric_index

        return attach_lyric_index(self, name, load_scorer(self.scorer_dir(name)), echo)

    def scorer_params(self, name: str) -> dict[str, Any] | None:
        """The saved scorer's params.json (None when it was never saved)."""
        from engine.scorers.persist import read_params

        path = self.scorer_dir(name)
        return read_params(path) if (path / "params.json").is_file() else None

