"""Where and how reproducibly the LSTM trains: the device choice and a seeded, deterministic torch context."""
from __future__ import annotations

import contextlib

import torch

from graph.common.errors import Img2SongError


def pick_device(device: str | None) -> torch.device:
    """'auto' -> CUDA when present, else CPU; anything else as given."""
    if device in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise Img2SongError(f"device {device!r} requested but no CUDA GPU is available")
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise Img2SongError(f"unknown device {str(device)[:40]!r}: use auto, cpu, cuda or cuda:N "
                            f"({str(e)[:80]})") from None


@contextlib.contextmanager
def deterministic_torch(seed: int, threads: int | None = None):
    """Seeded, deterministic torch for one training run: global seed (weights, dropout), deterministic kernels and
    cuDNN without autotuning, and `threads` intra-op threads when given; the previous settings come back afterwards.
    Data order comes from numpy's seeded Generator. Same thread count -> the same model."""
    prev = (torch.are_deterministic_algorithms_enabled(), torch.backends.cudnn.deterministic,
            torch.backends.cudnn.benchmark)
    prev_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        yield
    finally:
        torch.set_num_threads(prev_threads)
        torch.use_deterministic_algorithms(prev[0])
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = prev[1], prev[2]
