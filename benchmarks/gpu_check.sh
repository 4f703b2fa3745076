#!/bin/bash
# The GPU check, for a machine with an NVIDIA GPU (an H200 when one is lent),
# in one go and under 8 minutes:
#   1. the GPU tests (test/python/test_gpu_target.py: models against torch
#      CUDA, the hand-written GEMM and W4A16 GEMV against torch/dequantised
#      weights; on a machine without a GPU these skip),
#   2. benchmarks/gpu_bench.py: GEMM bf16 4096^3/8192^3 vs torch.matmul,
#      W4A16 GEMV 1x8192x8192 vs torch's int4 kernel and sparcc's bf16 GEMV,
#      2:4 vs torch.sparse.to_sparse_semi_structured.
# Writes benchmarks/results/gpu_check/{device.txt,tests.txt,tests.xml,gpu.json}.
# Needs sparcc installed with a CUDA build of torch==2.13.0 (README, GPU).
#
#   bash benchmarks/gpu_check.sh            # full run
#   QUICK=1 bash benchmarks/gpu_check.sh    # 4096^3 only, fewer repeats
set -u -o pipefail
cd "$(dirname "$0")/.." || exit 1
OUT=benchmarks/results/gpu_check
mkdir -p "$OUT"
start=$(date +%s)
{
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv 2>&1
  python -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
} > "$OUT/device.txt" 2>&1
cat "$OUT/device.txt"
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" || {
  echo "gpu_check: torch sees no CUDA device here; nothing to check" >&2
  exit 2
}
timeout 270 python -m pytest -q -rs test/python/test_gpu_target.py --junitxml="$OUT/tests.xml" 2>&1 | tee "$OUT/tests.txt"
tests=$?
if [ -n "${QUICK:-}" ]; then quick=--quick; else quick=; fi
timeout 180 python benchmarks/gpu_bench.py --out "$OUT/gpu.json" $quick 2>&1 | tee "$OUT/bench.txt"
echo "gpu_check: done in $(( $(date +%s) - start )) s; results in $OUT"
exit $tests
