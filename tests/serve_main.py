"""`python -m tests.serve_main serve ...`: the img2song CLI with a tiny backbone registered, for server tests.

The backbone ("test-serve-stats") maps a photo to its per-channel mean and spread (6-d) and 1000 ImageNet
logits that are a fixed linear map of them, so a run's features and a photo's take milliseconds.
"""
from __future__ import annotations

import sys

import numpy as np
import torch

from engine.features.backbones import Backbone, register_backbone
from evaluation.cli import main

BACKBONE = "test-serve-stats"


@register_backbone(BACKBONE)
class ChannelStats(Backbone):
    feature_dim = 6
    num_classes = 1000

    def preprocess(self, img):
        a = np.asarray(img.convert("RGB").resize((8, 8)), np.float32) / 255
        return torch.from_numpy(a).permute(2, 0, 1)

    def forward(self, x):
        f = torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], 1)
        return f, f @ torch.linspace(-1, 1, 6000).reshape(6, 1000)


if __name__ == "__main__":
    sys.exit(main())
