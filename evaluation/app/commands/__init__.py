"""CLI command modules; each defines `register(app)` and stays a thin shell over library functions."""
