#!/usr/bin/env bash
# The GPU test suite, run on the GPU machine (one H100) from the repository root:
#   tests/gpu/run.sh [logdir=$OUT or /tmp/strata-gpu]
# Builds the cuda preset, then: test_gpu (every CUDA kernel against the CPU backend on random inputs,
# graph replay vs eager, the Llama-3.1-8B-shaped bf16-vs-f32 comparison), test_model and test_engine on
# the GPU in float32 (the transformers goldens: logits within 1e-3, 32 greedy tokens), and prints a
# summary table last.
set -uo pipefail
cd "$(dirname "$0")/../.."
source tools/device_env.sh
log=${1:-${OUT:-/tmp/strata-gpu}}
mkdir -p "$log"
device_build "$log" || exit 1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$log/gpu.txt"
declare -A result
run() {  # name, command...
  local name=$1; shift
  local t0=$SECONDS
  "$@" >"$log/$name.log" 2>&1
  local rc=$?
  result[$name]="rc=$rc $(grep -E '^\[  (PASSED|FAILED)  \]' "$log/$name.log" | tr '\n' ' ') ($((SECONDS - t0)) s)"
  grep -E "^\[  FAILED  \]|Failure|error:" "$log/$name.log" | head -20
}
run test_gpu env STRATA_GPU_LARGE=1 build/cuda/test_gpu
run test_model_cuda env STRATA_TEST_DEVICE=cuda build/cuda/test_model
run test_engine_cuda env STRATA_TEST_DEVICE=cuda build/cuda/test_engine
grep -hE "^(graph vs eager|Llama-3.1-8B shape)" "$log/test_gpu.log"
echo "== summary"
for k in test_gpu test_model_cuda test_engine_cuda; do printf "%-18s %s\n" "$k" "${result[$k]}"; done
