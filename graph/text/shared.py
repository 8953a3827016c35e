"""One loaded text encoder per setting and process, of any precision: bfloat16/float32 (graph.text.encoder) or int8
(graph.text.int8, which builds on the former; kept apart so the two modules do not import each other)."""
from __future__ import annotations

from functools import lru_cache

from graph.common.errors import Img2SongError
from graph.text.encoder import DTYPES, TextEncoder

PRECISIONS = ("int8", *DTYPES)  # int8: graph.text.int8 (int8 feed-forward GEMMs, ~1.4x bfloat16's lyrics/CPU-s)


@lru_cache(maxsize=3)
def shared_encoder(dtype: str = "bfloat16", batch_tokens: int = 2048, max_tokens: int | None = None) -> TextEncoder:
    """One loaded encoder per setting and process (its weights take ~2 s to dequantise and 90 MB to hold)."""
    if dtype == "int8":
        from graph.text.int8 import Int8TextEncoder  # deferred: builds its C++ passes on first use

        return Int8TextEncoder(batch_tokens=batch_tokens, max_tokens=max_tokens)
    if dtype not in DTYPES:
        raise Img2SongError(f"text encoder: dtype must be one of {', '.join(PRECISIONS)}, not {dtype!r}")
    return TextEncoder(batch_tokens=batch_tokens, max_tokens=max_tokens, dtype=dtype)
