"""LINE vertex embeddings (Tang et al. 2015): samplers, reference, fused CPU kernel, estimator, registry."""
