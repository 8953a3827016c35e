"""`python -m tests.serve_main serve ...`: the img2song CLI with a tiny backbone registered, for server tests.

The backbone ("test-serve-stats") takes the shipped backbones' preprocessing (resize to 256, centre crop 224:
engine.features.backbones.center_crop_tensor), pools it to 8 x 8 and maps it to its per-channel mean and spread
(6-d) and 1000 ImageNet logits that are a fixed linear map of them, so a run's features and a photo's take
milliseconds while uploads meet the real resize.
"""
from __future__ import annotations

import sys

import torch
from PIL import Image

from engine.features.backbones import Backbone, center_crop_tensor, register_backbone
from evaluation.app.cli import main

BACKBONE = "test-serve-stats"


@register_backbone(BACKBONE)
class ChannelStats(Backbone):
    feature_dim = 6
    num_classes = 1000

    def preprocess(self, img):
        x = center_crop_tensor(img, 256, 224, (0.0, 0.0, 0.0), (1.0, 1.0, 1.0), Image.Resampling.BILINEAR)
        return torch.nn.functional.avg_pool2d(x.unsqueeze(0), 28)[0]

    def forward(self, x):
        f = torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], 1)
        return f, f @ torch.linspace(-1, 1, 6000).reshape(6, 1000)


if __name__ == "__main__":
    sys.exit(main())
