"""The CNN forward behind one interface, on the fastest runtime that keeps today's features (measured: bench features).

Runtimes (all run the same weights; none downloads anything):
- eager: PyTorch in the default NCHW layout, the reference every other runtime is compared with;
- channels-last: PyTorch with weights and batches in channels_last (also the CUDA path, optionally under autocast);
- compile: torch.compile of the channels-last module (needs a C++ compiler; minutes to compile on 2 cores);
- onnxruntime / openvino: the module exported once to ONNX (kept in <build root>/runtimes, named by the weights'
  sha256, the torch version and the export settings), run by ONNX Runtime or OpenVINO in float32.
`auto` picks DEFAULT_CPU_RUNTIME (ONNX Runtime) on a CPU for backbones that declare `exportable`, channels-last on CUDA and eager
otherwise. Every runtime but eager on a CPU changes float rounding (~1e-5), so it is part of the feature cache tag.
"""
from __future__ import annotations

import contextlib
import copy
import hashlib
import io
import os
import threading
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.features.backbones import Backbone
from graph.common.atomic import atomic_path
from graph.common.errors import Img2SongError
from graph.common.paths import build_root

RUNTIMES = ("eager", "channels-last", "compile", "onnxruntime", "openvino")
DEFAULT_CPU_RUNTIME = "onnxruntime"  # fastest that passes parity in `img2song bench features` (see README)
FALLBACK_CPU_RUNTIME = "channels-last"  # when the default's package is not importable
PRECISIONS = ("fp32", "bf16", "fp16")  # autocast dtype of the CUDA path; CPU runtimes run fp32 only
ONNX_OPSET = 17
EXPORT_VERSION = 1  # bump when the export below changes what it writes


def cpu_cores() -> int:
    """Cores this process may run on (affinity, not the machine's count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def feature_device(device: str | torch.device) -> torch.device:
    """The torch device named by --device; an unknown name is a clear error, not torch's RuntimeError."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise Img2SongError(f"unknown device {str(device)[:40]!r}: use cpu, cuda or cuda:N ({str(e)[:60]})") from None


def resolve_runtime(runtime: str, backbone: Backbone, device: str = "cpu") -> str:
    """`auto` -> the runtime used; a runtime that cannot run here raises a clear error."""
    dev = feature_device(device)
    if runtime == "auto":
        if dev.type != "cpu":
            return "channels-last"
        if not getattr(backbone, "exportable", False):
            return "eager"
        return DEFAULT_CPU_RUNTIME if _importable(DEFAULT_CPU_RUNTIME) else FALLBACK_CPU_RUNTIME
    if runtime not in RUNTIMES:
        raise Img2SongError(f"unknown runtime {runtime!r}; choose auto or one of {', '.join(RUNTIMES)}")
    if runtime in ("onnxruntime", "openvino"):
        if dev.type != "cpu":
            raise Img2SongError(f"runtime {runtime!r} runs on the CPU only; use channels-last or eager on {device}")
        if not getattr(backbone, "exportable", False):
            raise Img2SongError(f"backbone {backbone.name!r} is not exported to ONNX; use eager or channels-last")
        if not _importable(runtime):
            raise Img2SongError(f"runtime {runtime!r}: its package is not installed (pip install -e .)")
    return runtime


class Forward:
    """A backbone's forward on one runtime: float32 NCHW batch -> (features [B,D], logits [B,C] or None) in numpy."""

    def __init__(self, backbone: Backbone, runtime: str = "auto", device: str = "cpu", threads: int | None = None,
                 precision: str = "fp32") -> None:
        if precision not in PRECISIONS:
            raise Img2SongError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
        self.device = feature_device(device)
        if precision != "fp32" and self.device.type != "cuda":
            raise Img2SongError(f"precision {precision} is for CUDA devices only; the CPU runtimes run fp32")
        self.backbone = backbone.eval()
        self.runtime = resolve_runtime(runtime, backbone, device)
        self.precision = precision
        self.threads = threads or cpu_cores()
        self._run: Callable[[torch.Tensor], tuple[np.ndarray, np.ndarray | None]] = getattr(
            self, "_build_" + self.runtime.replace("-", "_"))()

    @property
    def numerics(self) -> str:
        """Names what produced the numbers: '' for the eager CPU reference, else runtime[-device][-precision]."""
        if self.runtime == "eager" and self.device.type == "cpu":
            return ""
        parts = [self.runtime] + ([self.device.type] if self.device.type != "cpu" else [])
        return "-".join(parts + ([self.precision] if self.precision != "fp32" else []))

    @property
    def cache_tag(self) -> str:
        """The feature cache folder: the backbone's tag, plus the runtime when its rounding differs."""
        return self.backbone.cache_tag + (f"+{self.numerics}" if self.numerics else "")

    @property
    def channels_last(self) -> bool:
        return self.runtime in ("channels-last", "compile")

    def __call__(self, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        return self._run(x)

    # --------------------------------------------------------------------------------------- torch runtimes
    def _torch_forward(self, module: nn.Module, channels_last: bool) -> Callable:
        autocast = ({"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)
                    if self.device.type == "cuda" else None)

        @torch.inference_mode()
        def run(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
            if self.device.type == "cuda" and x.device.type == "cpu":
                x = x.pin_memory()
            x = x.to(self.device, non_blocking=True)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            ctx = torch.autocast(self.device.type, dtype=autocast) if autocast else contextlib.nullcontext()
            # fp32 on a GPU means fp32: cuDNN's default TF32 convolutions moved features by 2e-2 from the CPU's on
            # an H200 (1.2e-5 without), and the forward is not what limits the stage there (decoding is)
            strict = torch.backends.cudnn.flags(enabled=True, allow_tf32=False) \
                if self.device.type == "cuda" and not autocast else contextlib.nullcontext()
            with ctx, strict:
                feats, logits = module(x)
            return (feats.float().cpu().numpy(), None if logits is None else logits.float().cpu().numpy())
        return run

    def _build_eager(self) -> Callable:
        on_cpu = self.device.type == "cpu"  # another device gets a copy: the CPU module stays usable beside it
        module = self.backbone if on_cpu else copy.deepcopy(self.backbone).to(self.device)
        return self._torch_forward(module, channels_last=False)

    def _build_channels_last(self) -> Callable:
        module = copy.deepcopy(self.backbone).to(self.device).to(memory_format=torch.channels_last)
        return self._torch_forward(module, channels_last=True)

    def _build_compile(self) -> Callable:
        module = copy.deepcopy(self.backbone).to(self.device).to(memory_format=torch.channels_last)
        return self._torch_forward(torch.compile(module, dynamic=False), channels_last=True)

    # --------------------------------------------------------------------------------------- exported runtimes
    def _build_onnxruntime(self) -> Callable:
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = self.threads, 1
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")  # idle threads leave the decoders a core
        session = ort.InferenceSession(str(exported_onnx(self.backbone)), so, providers=["CPUExecutionProvider"])

        def run(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
            feats, logits = session.run(None, {"images": np.ascontiguousarray(x.numpy(), np.float32)})
            return feats, logits
        return run

    def _build_openvino(self) -> Callable:
        import openvino as ov

        core = ov.Core()
        model = core.read_model(str(exported_onnx(self.backbone)))
        compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": self.threads,
                                                     "INFERENCE_PRECISION_HINT": "f32",  # never bf16 behind our back
                                                     "PERFORMANCE_HINT": "LATENCY"})
        local = threading.local()  # one infer request per calling thread (the serve pool may have several)
        outs = compiled.outputs

        def run(x: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
            if not hasattr(local, "request"):
                local.request = compiled.create_infer_request()
            res = local.request.infer({0: np.ascontiguousarray(x.numpy(), np.float32)})
            return np.array(res[outs[0]], np.float32), np.array(res[outs[1]], np.float32)
        return run


    def as_backbone(self) -> RuntimeBackbone:
        """This forward behind the Backbone interface (preprocess, dims, call -> torch tensors)."""
        return RuntimeBackbone(self)


class RuntimeBackbone:
    """A backbone whose call runs on a Forward's runtime, for code written against Backbone (the photo encoder)."""

    def __init__(self, forward: Forward) -> None:
        self.forward = forward

    def __getattr__(self, name: str) -> object:  # preprocess, name, feature_dim, num_classes, weights_path, ...
        return getattr(self.forward.backbone, name)

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        feats, logits = self.forward(x)
        return torch.from_numpy(feats), None if logits is None else torch.from_numpy(logits)


def runtime_of_run(features_meta: dict) -> str:
    """The CPU runtime that computed a run's features when it can run here (photos then match the corpus's
    rounding), else auto."""
    rt = features_meta.get("runtime")
    if rt in ("eager", "channels-last", "onnxruntime", "openvino") and "cuda" not in (features_meta.get("numerics")
                                                                                     or ""):
        return rt if rt not in ("onnxruntime", "openvino") or _importable(rt) else "auto"
    return "auto"


class _Exported(nn.Module):
    def __init__(self, backbone: Backbone) -> None:
        super().__init__()
        self.backbone = backbone

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.backbone(x)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def exported_onnx(backbone: Backbone) -> Path:
    """The backbone as ONNX (dynamic batch), exported at first use into <build root>/runtimes and reused after."""
    weights = Path(getattr(backbone, "weights_path", ""))
    if not weights.is_file():
        raise Img2SongError(f"backbone {backbone.name!r}: no weights file to export")
    res = getattr(backbone, "resolution", 224)
    key = hashlib.sha256(f"{backbone.name}:{_file_sha256(weights)}:{torch.__version__}:{res}:{ONNX_OPSET}:"
                         f"{EXPORT_VERSION}".encode()).hexdigest()[:16]
    path = build_root() / "runtimes" / f"{backbone.name}-{key}.onnx"
    if path.is_file():
        return path
    if not _importable("onnx"):
        raise Img2SongError("exporting to ONNX needs the onnx package (pip install -e .)")
    module = _Exported(copy.deepcopy(backbone).cpu().eval())  # the exporter folds batch norms into the weights it holds
    with atomic_path(path) as tmp, warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes
        torch.onnx.export(module, (torch.zeros(1, 3, res, res),), str(tmp), dynamo=False, opset_version=ONNX_OPSET,
                          input_names=["images"], output_names=["features", "logits"],
                          dynamic_axes={"images": {0: "batch"}, "features": {0: "batch"}, "logits": {0: "batch"}})
    return path
