"""Which image formats img2song decodes: raster formats PIL reads in-process, nothing that runs a helper program.

Why: PIL's EPS plugin hands the file to Ghostscript (an interpreter of the file's PostScript); uploads and corpus
files are untrusted, so every `Image.open` of outside bytes passes `formats=SAFE_FORMATS`.
"""
from __future__ import annotations

SAFE_FORMATS: tuple[str, ...] = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF", "PPM", "TGA", "ICO")
