"""What a typical user writes (nn.Embedding + log-sigmoid loss + torch.optim.SGD): a benchmark baseline only."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from engine.line.impls import LineImpl, lr_schedule, register_impl, torch_threads
from engine.line.sampling import TorchSamplers


class _LineModule(torch.nn.Module):
    def __init__(self, vertex: torch.Tensor, context: torch.Tensor, order: int):
        super().__init__()
        self.vertex = torch.nn.Embedding.from_pretrained(vertex, freeze=False)
        self.context = self.vertex if order == 1 else torch.nn.Embedding.from_pretrained(context, freeze=False)

    def forward(self, src, dst, neg):
        u = self.vertex(src)
        pos = (u * self.context(dst)).sum(-1)
        negs = torch.einsum("bd,bkd->bk", u, self.context(neg))
        return -(F.logsigmoid(pos).sum() + F.logsigmoid(-negs).sum())  # summed: SGD step = the C++ update


@register_impl("naive")
class NaiveImpl(LineImpl):
    """Same objective and sampling as the reference; autograd + optimizer instead of a fused update."""

    devices = ("cpu", "cuda")

    def train(self, vertex, context, order, t0, n, total, seed):
        dev = vertex.device
        draw = TorchSamplers(self.samplers, dev)
        module = _LineModule(vertex, context, order)  # the Parameters share storage with the tables
        opt = torch.optim.SGD(module.parameters(), lr=self.lr)
        gen = torch.Generator(device=dev)
        gen.manual_seed(seed)
        done = 0
        with torch_threads(self.threads, dev):
            while done < n:
                b = min(self.batch_size, n - done)
                src, dst, neg = draw.draw(b, self.negative, gen)
                for group in opt.param_groups:
                    group["lr"] = float(lr_schedule(t0 + done + b / 2, total, self.lr))
                opt.zero_grad(set_to_none=True)
                module(src, dst, neg).backward()
                opt.step()
                done += b
