"""LINE vertex embeddings (Tang et al. 2015): samplers, reference, fused CPU kernel, estimator, registry."""
from engine.line.config import LineConfig
from engine.line.impls import LineImpl, get_impl, impl_names, register_impl
from engine.line.model import LINE

__all__ = ["LINE", "LineConfig", "LineImpl", "get_impl", "impl_names", "register_impl"]
