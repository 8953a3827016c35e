"""engine: LINE embeddings (reference, fused CPU and GPU kernels), image features, scorers (imports graph only)."""
