"""LINE vertex embeddings (Tang et al. 2015): samplers, reference, fused CPU kernel, estimator, registry.

The estimator and the kernels load on first use (PEP 562), so that reading LINE's settings (engine.line.config,
what `img2song train --help` shows) does not import torch."""
from importlib import import_module
from typing import Any

from engine.line.config import LineConfig

_LAZY = {"LINE": "engine.line.model", "LineImpl": "engine.line.impls", "get_impl": "engine.line.impls",
         "impl_names": "engine.line.impls", "register_impl": "engine.line.impls"}

__all__ = ["LINE", "LineConfig", "LineImpl", "get_impl", "impl_names", "register_impl"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'engine.line' has no attribute {name!r}")
