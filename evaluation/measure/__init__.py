"""Measurement: metrics, paired tests, ground truth and the report object (no run directory)."""
