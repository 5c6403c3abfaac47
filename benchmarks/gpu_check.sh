#!/usr/bin/env bash
# The workshop's "with and without GPU" comparison, on a machine with an NVIDIA GPU:
# build llama-cpp-python with CUDA (make engine GPU=on), check it (assay doctor), then
# benchmark both bundled models on the CPU and on the GPU in one run, with its report.
#
#   bash benchmarks/gpu_check.sh [OUT_DIR]     (default: runs/)
#
# Needs nvidia-smi and nvcc (the CUDA toolkit). The CUDA build compiles for this machine's
# GPU only (CMAKE_CUDA_ARCHITECTURES from nvidia-smi, e.g. 90 for an H200): about 10 minutes
# on 16 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-runs}"
if ! nvidia-smi -L; then
  echo "gpu_check: no NVIDIA GPU here (nvidia-smi -L failed); nothing to compare" >&2
  exit 1
fi
make engine GPU=on
make venv
.venv/bin/assay doctor || true   # prints the GPU, driver and build; a warning is not fatal here
.venv/bin/assay bench --models smollm2-135m,gemma3-270m --device cpu,gpu --rounds 5 \
  --name gpu-check --out "$out" --report md,html
run=$(ls -td "$out"/*gpu-check* | head -n 1)
echo "gpu_check: report in $run/benchmark_report.md"
cat "$run/benchmark_report.md"
