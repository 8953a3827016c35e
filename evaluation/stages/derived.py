"""What commands derive from a run and keep in it, so that `add`, `recommend` and a server start do not redo it.

- An LSTM scorer's encoded lyrics (engine.lstm.scoring.LyricIndex): layer 1 of the bi-LSTM over every catalogue
  lyric, seconds of CPU per scorer on 10,000 songs. Keyed by the model (settings, weights, word vectors, tag
  vocabulary, song-term statistics), the scorer's lyric tokens (so the tokeniser's output, whatever its version),
  the source of every module that encodes them, torch's version and the device.
- The catalogue's content-word document frequencies (engine.live.edges.content_df), which a new song's lyric-word
  edges are weighted by: a jieba pass over every lyric, about 10 s CPU. Keyed by every song's language and lyric,
  the source of the tokeniser (graph.keywords and what it imports), its stopword lists, and jieba's version and
  dictionary bytes.

A key that differs recomputes (a stale file is never read), a damaged file recomputes with a message naming it,
every write is atomic (RunDir, rundir_derived), and a run that cannot be written still gets the value, unsaved.
An `add` leaves both valid: the index is keyed by the base catalogue, and the added songs' rows are appended on
replay (engine.live.updates.update_lstm); build-time document frequencies never counted added songs.
"""
from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from evaluation.stages.rundir_derived import DerivedFiles as RunDir
from graph.common.errors import Img2SongError

T = TypeVar("T")  # (RunDir above: the run store's part these functions read and write; rundir imports this module)
Echo = Callable[[str], None]
CONTENT_DF_FORMAT = 1  # bump when content_df's rule changes in a way its modules' source does not show


def cached(what: str, load: Callable[[], T | None], compute: Callable[[], T], save: Callable[[T], Path],
           echo: Echo | None = None, verb: str = "computed", redo: str = "computing") -> T:
    """`load()` when it answers, else `compute()` then `save()`; a damaged file (load raises Img2SongError) is
    recomputed and rewritten, an unwritable run keeps the value unsaved. Messages go to `echo`; without one, only
    the damaged and unsaved ones, to stderr."""
    warn = echo or (lambda line: print(line, file=sys.stderr))
    try:
        hit = load()
    except Img2SongError as e:
        warn(f"{e}; {redo} the {what} again")
        hit = None
    if hit is not None:
        return hit
    t0 = time.process_time()
    value = compute()
    cpu = time.process_time() - t0
    try:
        path = save(value)
        if echo is not None:
            echo(f"{what} {verb} ({cpu:.2f} s CPU) and saved to {path}")
    except (OSError, Img2SongError) as e:
        warn(f"{what} {verb} ({cpu:.2f} s CPU); not saved ({e})")
    return value


class TypedHash:
    """sha256 over typed parts (dtype and shape before bytes, so no two different inputs share a stream)."""

    def __init__(self, head: str) -> None:
        self.h = hashlib.sha256(f"{head}|".encode())

    def text(self, *parts: Any) -> TypedHash:
        for p in parts:
            b = str(p).encode("utf-8", "surrogatepass")
            self.h.update(f"{len(b)}:".encode() + b)
        return self

    def array(self, *parts: Any) -> TypedHash:
        for p in parts:
            a = np.ascontiguousarray(p.detach().cpu().numpy() if hasattr(p, "detach") else p)
            self.h.update(f"{a.dtype.str}{a.shape}|".encode())
            self.h.update(a.tobytes() if a.dtype.kind not in "OU" else "\x1f".join(map(str, a.ravel())).encode())
        return self

    def digest(self) -> str:
        return self.h.hexdigest()[:32]


# ----------------------------------------------------------------------------------------- LSTM lyric index
def lyric_index_key(scorer: Any) -> str:
    """Hash of everything an LSTM scorer's lyric index is computed from (module docstring)."""
    import torch

    from engine.lstm.checkpoint import SAVED_PARAMS
    from engine.lstm.scoring import INDEX_FORMAT
    from engine.scorers.staleness import code_modules, code_signature

    m = scorer.model_
    h = TypedHash(f"lyric index v{INDEX_FORMAT}")
    h.text(torch.__version__, next(m.model_.parameters()).device.type,
           code_signature(code_modules("engine.lstm.scoring")))
    h.text(*(f"{k}={getattr(m, k, None)!r}" for k in SAVED_PARAMS))
    h.text(bool(getattr(m, "uses_prior_", False)), bool(getattr(m, "uses_lexical_", False)), *m.tag_vocab_)
    for name, t in sorted(m.model_.state_dict().items()):
        h.text(name).array(t)
    h.text(*m.word_vectors_.words).array(m.word_vectors_.vectors, m.tag_mean_, m.tag_word_ids_)
    for a in (getattr(m, "prior_mean_", None), getattr(m, "prior_std_", None)):
        h.text(a is None).array(*(() if a is None else (a,)))
    h.text(len(scorer.song_tokens_))
    for toks in scorer.song_tokens_:
        h.text("\x1f".join(toks))
    return h.digest()


def is_lstm(scorer: Any) -> bool:
    """A scorer with an LSTM lyric index (the lstm and lstm-base types and their subclasses)."""
    from engine.scorers.lstm import LSTMScorer  # deferred: torch

    return isinstance(scorer, LSTMScorer)


def attach_lyric_index(run: RunDir, name: str, scorer: Any, echo: Echo | None = None) -> Any:
    """Give a loaded LSTM scorer its encoded lyrics from the run (computed and saved there when missing or stale);
    any other scorer is returned as it is."""
    if not is_lstm(scorer):
        return scorer
    key = lyric_index_key(scorer)
    index = cached(f"LSTM lyric index of scorer {name}", lambda: run.load_lyric_index(name, scorer.model_, key),
                   scorer.lyric_index, lambda ix: run.save_lyric_index(name, ix, key), echo)
    return scorer.install_index(index)


def keep_lyric_index(run: RunDir, name: str, scorer: Any) -> Path | None:
    """After a fit: save the lyric index the fit built (it costs nothing more), so the next load reads it."""
    if not is_lstm(scorer) or not hasattr(getattr(scorer, "index_", None), "to_arrays"):  # a fit's LyricIndex
        return None
    try:
        return run.save_lyric_index(name, scorer.index_, lyric_index_key(scorer))
    except (OSError, Img2SongError) as e:
        print(f"LSTM lyric index of scorer {name}: not saved ({e})", file=sys.stderr)
        return None


# ------------------------------------------------------------------------------- content-word frequencies
def _jieba_dictionary() -> tuple[str, str | None]:
    """(jieba's version, sha256 of its default dictionary), found without importing jieba."""
    from engine.scorers.staleness import file_hash

    try:
        version = importlib.metadata.version("jieba")
    except importlib.metadata.PackageNotFoundError:
        version = "absent"
    spec = importlib.util.find_spec("jieba")
    origin = Path(spec.origin).parent / "dict.txt" if spec is not None and spec.origin else None
    return version, (file_hash(origin) if origin is not None else None)


def content_df_key(songs: Sequence[Any]) -> str:
    """Hash of everything content_df(songs) is computed from (module docstring)."""
    from engine.scorers.staleness import code_modules, code_signature
    from graph.keywords import LANGUAGES, stopwords

    h = TypedHash(f"content df v{CONTENT_DF_FORMAT}")
    h.text(code_signature(code_modules("graph.keywords")), *_jieba_dictionary())
    for lang in LANGUAGES:
        h.text(lang, *sorted(stopwords(lang)))
    h.text(len(songs))
    for s in songs:
        h.text(s.language, s.lyrics)
    return h.digest()


def cached_content_df(run: RunDir, songs: Sequence[Any], echo: Echo | None = None) -> Counter[str]:
    """content_df(songs) from the run when saved under the same key, else computed now and saved."""
    from engine.live.edges import content_df

    key = content_df_key(songs)
    return cached("content-word document frequencies", lambda: run.load_content_df(key),
                  lambda: content_df(songs), lambda df: run.save_content_df(df, key), echo)
