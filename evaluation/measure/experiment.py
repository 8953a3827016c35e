"""Experiments as files: `img2song evaluate --config experiment.toml`, a typed schema that rejects unknown keys.

    k = 10
    ns = [0, 5, 10, 50, 100]
    seed = 0
    n_boot = 2000
    protocols = ["photo", "oracle"]
    scorer_modules = ["mypkg.myscorer"]      # imported first: they register their scorers

    [ground_truth]
    conceptnet_db = "/path/to/conceptnet.db" # optional; default: corpus dump, else the open-thesauri DB

    [scorers.ne]                             # type defaults to the table's name
    [scorers.ne-3x3]
    type = "ne"
    n_images = 3
    songs_per_image = 3

Each field carries its help text and check in its metadata (the style of PyTorch-BigGraph's config schema);
the resolved config (every default filled in, every scorer's full parameters) goes into report.json "config".
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import sys
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from evaluation.measure.groundtruth import N_VALUES
from graph.common.errors import Img2SongError

PROTOCOLS = ("photo", "oracle")
DEFAULT_SCORERS = ("ne", "km", "pop")


def cfg(default: Any = dataclasses.MISSING, *, help: str, check: Callable[[Any], str | None] | None = None,
        factory: Callable[[], Any] | None = None) -> Any:
    """A config field with its help text and a check returning an error message (or None when fine)."""
    meta = {"help": help, "check": check}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


def _int_at_least(low: int) -> Callable[[Any], str | None]:
    def check(v: Any) -> str | None:
        ok = isinstance(v, int) and not isinstance(v, bool) and v >= low
        return None if ok else f"must be an integer >= {low}, got {v!r}"
    return check


def _ns(v: Any) -> str | None:
    if not isinstance(v, list) or not v or any(_int_at_least(0)(x) for x in v) or len(set(v)) != len(v):
        return f"must be a non-empty list of distinct integers >= 0, got {v!r}"
    return None


def _protocols(v: Any) -> str | None:
    if not isinstance(v, list) or not v or any(p not in PROTOCOLS for p in v):
        return f"must be a non-empty list of {' | '.join(map(repr, PROTOCOLS))}, got {v!r}"
    return None


def _str_list(v: Any) -> str | None:
    ok = isinstance(v, list) and all(isinstance(x, str) and x for x in v)
    return None if ok else f"must be a list of module names, got {v!r}"


def _opt_str(v: Any) -> str | None:
    return None if v is None or (isinstance(v, str) and v) else f"must be a path, got {v!r}"


@dataclass(frozen=True)
class ScorerSpec:
    """One scorer of an experiment: a report name, a registered scorer type and its constructor parameters."""

    name: str
    type: str
    params: dict[str, Any] = field(default_factory=dict)

    def resolved_params(self, where: str = "") -> dict[str, Any]:
        """Given parameters checked against the scorer class's __init__, with its defaults filled in."""
        from engine.scorers.base import SCORERS

        cls = SCORERS.get(self.type)
        sig = inspect.signature(cls.__init__)
        named = {n: p for n, p in sig.parameters.items() if n != "self"
                 and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
        takes_any = any(p.kind is p.VAR_KEYWORD for p in sig.parameters.values())
        for key in self.params:
            if key not in named and not takes_any:
                raise Img2SongError(f"{where}[scorers.{self.name}]: unknown parameter {key!r} of scorer type "
                                    f"{self.type!r}; known: {', '.join(named) or '(none)'}")
        missing = [n for n, p in named.items() if p.default is p.empty and n not in self.params]
        if missing:
            raise Img2SongError(f"{where}[scorers.{self.name}]: scorer type {self.type!r} needs {', '.join(missing)}")
        return {n: p.default for n, p in named.items() if p.default is not p.empty} | dict(self.params)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "params": self.resolved_params()}


def _default_scorers() -> list[ScorerSpec]:
    return [ScorerSpec(n, n) for n in DEFAULT_SCORERS]


@dataclass
class GroundTruthConfig:
    conceptnet_db: str | None = cfg(None, check=_opt_str, help=(
        "a real ConceptNet SQLite DB (conceptnet-lite); default: the corpus's related_words.tsv.gz, else the "
        "ConceptNet-format DB built from open thesauri"))


@dataclass
class ExperimentConfig:
    """Everything `evaluate` depends on besides the run directory."""

    scorers: list[ScorerSpec] = cfg(factory=_default_scorers, help=(
        "tables [scorers.NAME] with `type` (default NAME) and that scorer's constructor parameters"))
    k: int = cfg(10, check=_int_at_least(1), help="songs recommended per query image")
    ns: list[int] = cfg(factory=lambda: list(N_VALUES), check=_ns,
                        help="related words per keyword in the ground truth (0 = the keyword alone)")
    seed: int = cfg(0, check=_int_at_least(0), help="seed of the bootstrap intervals")
    n_boot: int = cfg(2000, check=_int_at_least(1), help="bootstrap resamples per interval")
    protocols: list[str] = cfg(factory=lambda: list(PROTOCOLS), check=_protocols, help=(
        "query protocols: 'photo' (scorers get the photo alone) and/or 'oracle' (the paper's: the query's true "
        "keywords are handed to the scorers)"))
    scorer_modules: list[str] = cfg(factory=list, check=_str_list, help=(
        "Python modules imported before the scorers are looked up (each registers its own scorer)"))
    ground_truth: GroundTruthConfig = cfg(factory=GroundTruthConfig, help="where the related words come from")
    source: str | None = None  # the file it was read from (not a key of the file)

    def __post_init__(self) -> None:
        where = f"{self.source}: " if self.source else ""
        _check_fields(self, where)
        _check_fields(self.ground_truth, where + "[ground_truth] ")
        names = [s.name for s in self.scorers]
        if not names:
            raise Img2SongError(f"{where}no scorer: add a table [scorers.NAME]")
        if len(set(names)) != len(names):
            raise Img2SongError(f"{where}scorer names must be distinct, got {names}")

    def load_plugins(self) -> None:
        import_scorer_modules(self.scorer_modules)

    def to_dict(self) -> dict[str, Any]:
        """The resolved config (defaults filled in) as report.json records it."""
        self.load_plugins()
        where = f"{self.source}: " if self.source else ""
        return {"source": self.source, "k": self.k, "ns": list(self.ns), "seed": self.seed, "n_boot": self.n_boot,
                "protocols": self.protocols, "scorer_modules": list(self.scorer_modules),
                "ground_truth": dataclasses.asdict(self.ground_truth),
                "scorers": [{"name": s.name, "type": s.type, "params": s.resolved_params(where)}
                            for s in self.scorers]}

    @classmethod
    def from_dict(cls, doc: dict[str, Any], source: str | None = None) -> ExperimentConfig:
        where = f"{source}: " if source else ""
        _reject_non_finite(doc, where)
        doc = dict(doc)
        _reject_unknown(cls, doc, where, skip={"source"})
        gt = doc.pop("ground_truth", {})
        if not isinstance(gt, dict):
            raise Img2SongError(f"{where}'ground_truth' must be a table [ground_truth]")
        _reject_unknown(GroundTruthConfig, gt, where + "[ground_truth] ")
        scorers = doc.pop("scorers", None)
        specs = _default_scorers() if scorers is None else _scorer_specs(scorers, where)
        return cls(scorers=specs, ground_truth=GroundTruthConfig(**gt), source=source, **doc)


def _scorer_specs(tables: Any, where: str) -> list[ScorerSpec]:
    if not isinstance(tables, dict):
        raise Img2SongError(f"{where}'scorers' must be tables [scorers.NAME], got {tables!r}")
    out = []
    for name, body in tables.items():
        if not isinstance(body, dict):
            raise Img2SongError(f"{where}[scorers.{name}] must be a table (type = ..., parameters)")
        body = dict(body)
        typ = body.pop("type", name)
        if not isinstance(typ, str) or not typ:
            raise Img2SongError(f"{where}[scorers.{name}]: 'type' must be a scorer name, got {typ!r}")
        out.append(ScorerSpec(str(name), typ, body))
    return out


def _reject_non_finite(value: Any, where: str, key: str = "") -> None:
    """TOML allows nan and inf; no setting of an experiment means either, and a NaN recorded in run.json would
    make every later command on that run refuse it, so the file is refused here, naming the key."""
    if isinstance(value, float) and not math.isfinite(value):
        raise Img2SongError(f"{where}key {key!r} is {value}: numbers in an experiment file must be finite")
    if isinstance(value, dict):
        for k, v in value.items():
            _reject_non_finite(v, where, f"{key}.{k}" if key else str(k))
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _reject_non_finite(v, where, f"{key}[{i}]")


def _reject_unknown(cls: type, doc: dict[str, Any], where: str, skip: set[str] = frozenset()) -> None:
    known = [f.name for f in dataclasses.fields(cls) if f.name not in skip]
    for key in doc:
        if key not in known:
            raise Img2SongError(f"{where}unknown key {key!r}; known: {', '.join(known)}")


def _check_fields(obj: Any, where: str) -> None:
    for f in dataclasses.fields(obj):
        check = f.metadata.get("check")
        if check is not None:
            problem = check(getattr(obj, f.name))
            if problem:
                raise Img2SongError(f"{where}field {f.name!r} {problem} ({f.metadata['help']})")


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Parse and check an experiment TOML file; every problem names the file and the key."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise Img2SongError(f"{path}: experiment file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise Img2SongError(f"{path}: not valid TOML ({e})") from None
    return ExperimentConfig.from_dict(doc, source=str(path))


def import_scorer_modules(modules: Sequence[str]) -> None:
    """Import user modules that register scorers (engine.scorers.base.register_scorer) as a side effect: dotted
    names on PYTHONPATH, or .py files (their folder goes first on sys.path, the module is named by the file)."""
    for name in modules:
        if name.endswith(".py"):
            file = Path(name).resolve()
            if not file.is_file():
                raise Img2SongError(f"scorer module {name!r}: no such file")
            if str(file.parent) not in sys.path:
                sys.path.insert(0, str(file.parent))
            name = file.stem
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as e:
            raise Img2SongError(f"scorer module {name!r} cannot be imported ({e}); is it on PYTHONPATH?") from None
        except Exception as e:  # noqa: BLE001 - the user's module is broken: say which and how
            raise Img2SongError(f"scorer module {name!r} failed to import: {type(e).__name__}: {e}") from None
