"""One name -> class registry (like torchvision's register_model) for backbones, scorers and LINE impls.

A registry may also read a Python entry-point group (importlib.metadata): an installed distribution that declares
`[project.entry-points."img2song.scorers"] myscorer = "mypkg.myscorer:MyScorer"` plugs its class in by name
without any edit of this project (the class is registered under the entry point's name when loaded).
"""
from __future__ import annotations

import importlib
import importlib.metadata
from collections.abc import Callable
from typing import Generic, TypeVar

from graph.common.errors import Img2SongError

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Classes registered by name with a decorator; `lazy` maps names to the module that registers them."""

    def __init__(self, what: str, lazy: dict[str, str] | None = None, load_all: str | None = None,
                 entry_points: str | None = None):
        self.what, self.lazy, self.load_all = what, dict(lazy or {}), load_all
        self.entry_point_group = entry_points
        self._classes: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(cls: T) -> T:
            old = self._classes.get(name)
            if old is not None and old.__qualname__ != cls.__qualname__:
                raise ValueError(f"{self.what} {name!r} registered twice ({old.__qualname__}, {cls.__qualname__})")
            cls.name = name
            self._classes[name] = cls
            return cls

        return deco

    def _entry_points(self) -> dict[str, importlib.metadata.EntryPoint]:
        if not self.entry_point_group:
            return {}
        return {ep.name: ep for ep in importlib.metadata.entry_points(group=self.entry_point_group)}

    def _load_entry_point(self, ep: importlib.metadata.EntryPoint) -> None:
        dist = getattr(ep.dist, "name", None) or "an installed distribution"
        try:
            obj = ep.load()
        except Exception as e:  # noqa: BLE001 - a broken plug-in is the user's error, told by name
            raise Img2SongError(f"{self.what} plug-in {ep.name!r} ({ep.value}, from {dist}, entry-point group "
                                f"{self.entry_point_group}) failed to load: {type(e).__name__}: {e}") from None
        if ep.name not in self._classes:
            if not isinstance(obj, type):
                raise Img2SongError(f"{self.what} plug-in {ep.name!r} ({ep.value}, from {dist}) is not a class "
                                    "and did not register itself")
            self.register(ep.name)(obj)

    def _load(self, name: str | None = None) -> None:
        if self.load_all:
            importlib.import_module(self.load_all)
        if name is not None and name not in self._classes and name in self.lazy:
            try:
                importlib.import_module(self.lazy[name])
            except ModuleNotFoundError as e:
                raise Img2SongError(f"{self.what} {name!r} is not available here ({e})") from None
        if name is not None and name not in self._classes:
            ep = self._entry_points().get(name)
            if ep is not None:
                self._load_entry_point(ep)

    def get(self, name: str) -> T:
        """The class registered as `name`; an unknown name raises an error listing the known ones."""
        self._load(name)
        if name not in self._classes:
            raise Img2SongError(f"unknown {self.what} {name!r}; known: {', '.join(self.names())}")
        return self._classes[name]

    def names(self) -> list[str]:
        self._load()
        return sorted(set(self._classes) | set(self.lazy) | set(self._entry_points()))
