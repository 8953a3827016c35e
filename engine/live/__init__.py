"""A live catalogue: songs and photos added to (and removed from) a trained run without retraining."""
