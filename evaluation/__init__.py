"""evaluation: related-word ground truth, metrics, comparison reports, the CLI and the demo."""
