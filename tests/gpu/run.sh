#!/usr/bin/env bash
# The GPU test suite, run on the GPU machine (one H100) from the repository root:
#   tests/gpu/run.sh [logdir=$OUT or /tmp/strata-gpu]
# Builds the cuda preset, then: test_gpu (every CUDA kernel against the CPU backend on random inputs,
# graph replay vs eager, the Llama-3.1-8B-shaped bf16-vs-f32 comparison), test_model and test_engine on
# the GPU in float32 (the transformers goldens: logits within 1e-3, 32 greedy tokens), the e2e suite
# (pytest + the official openai client) against GPU servers, and prints a summary table last.
# The e2e suite needs pytest, openai, requests, prometheus_client and jinja2 for python3; on a machine
# without network access, carry their wheels in .whl (they are installed from there into /tmp/site).
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
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl >/dev/null 2>&1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
run e2e_cuda env STRATA_E2E_PYTHON=python3 STRATA_BINARY="$PWD/build/cuda/strata" \
  STRATA_E2E_SERVER_ARGS="--device cuda --dtype float32 --gpu-memory-utilization 0.04" \
  tests/e2e/run.sh -q -p no:cacheprovider
# The parallel group's path on one GPU: a 1-rank group (rank thread, NCCL communicator, step codec).
run e2e_cuda_group env STRATA_DISTRIBUTED=1 STRATA_E2E_PYTHON=python3 STRATA_BINARY="$PWD/build/cuda/strata" \
  STRATA_E2E_SERVER_ARGS="--device cuda --dtype float32 --gpu-memory-utilization 0.04" \
  tests/e2e/run.sh -q -p no:cacheprovider tests/e2e/test_completions.py tests/e2e/test_golden.py tests/e2e/test_chat.py
grep -hE "^(graph vs eager|Llama-3.1-8B shape|sampling op)" "$log/test_gpu.log"
echo "== summary"
result[e2e_cuda]="${result[e2e_cuda]} $(tail -1 "$log/e2e_cuda.log")"
result[e2e_cuda_group]="${result[e2e_cuda_group]} $(tail -1 "$log/e2e_cuda_group.log")"
for k in test_gpu test_model_cuda test_engine_cuda e2e_cuda e2e_cuda_group; do printf "%-18s %s\n" "$k" "${result[$k]}"; done
