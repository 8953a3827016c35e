"""One name -> class registry (like torchvision's register_model) for backbones, scorers and LINE impls."""
from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from graph.common.errors import Img2SongError

T = TypeVar("T", bound=type)


class Registry(Generic[T]):
    """Classes registered by name with a decorator; `lazy` maps names to the module that registers them."""

    def __init__(self, what: str, lazy: dict[str, str] | None = None, load_all: str | None = None):
        self.what, self.lazy, self.load_all = what, dict(lazy or {}), load_all
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

    def _load(self, name: str | None = None) -> None:
        if self.load_all:
            importlib.import_module(self.load_all)
        if name is not None and name not in self._classes and name in self.lazy:
            try:
                importlib.import_module(self.lazy[name])
            except ModuleNotFoundError as e:
                raise Img2SongError(f"{self.what} {name!r} is not available here ({e})") from None

    def get(self, name: str) -> T:
        """The class registered as `name`; an unknown name raises an error listing the known ones."""
        self._load(name)
        if name not in self._classes:
            raise Img2SongError(f"unknown {self.what} {name!r}; known: {', '.join(self.names())}")
        return self._classes[name]

    def names(self) -> list[str]:
        self._load()
        return sorted(set(self._classes) | set(self.lazy))
