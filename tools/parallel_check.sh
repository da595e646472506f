#!/usr/bin/env bash
# Greedy tokens of a Llama-3.1-8B-shaped dummy model (f32, CPU backend) split over tensor/pipeline-
# parallel ranks against one rank: the multi-GPU validation's first check, run where no multi-GPU
# machine is available (the ranks are threads joined by the TCP data plane). Needs ~70 GB of RAM.
#   tools/parallel_check.sh [steps=64] [layouts="2x1 1x2 2x2"]   (layout = TPxPP)
# Prints one line per layout: the first step where its tokens differ from tp=1 (or "same"), and the
# wall time. Uses $STRATA_TESTDATA_DIR/llama3-hf-configs (or ../shared/testdata).
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${1:-64}
layouts=${2:-"2x1 1x2 2x2"}
td=${STRATA_TESTDATA_DIR:-../shared/testdata}
bin=${STRATA_BIN:-build/cuda/strata}
[[ -x $bin ]] || bin=build/cpu/strata
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "${PARALLEL_CHECK_CONFIG:-$td/llama3-hf-configs/Llama-3.1-8B.config.json}" "$dir/config.json"
gunzip -c "$td/hf-tokenizers/llama-3.1-instruct/tokenizer.json.gz" >"$dir/tokenizer.json"
cp "$td/hf-tokenizers/llama-3.1-instruct/tokenizer_config.json" "$dir/"
cores=$(nproc)
gen() {  # tp pp → JSON lines
  local world=$(($1 * $2))
  OMP_NUM_THREADS=$((cores / world > 0 ? cores / world : 1)) "$bin" generate --model "$dir" --load-format dummy \
    --device cpu --max-model-len 256 --kv-cache-memory 1GiB --max-tokens "$steps" --temperature 0 --json \
    --tensor-parallel-size "$1" --pipeline-parallel-size "$2" \
    -p "The history of the printing press begins" -p "def fibonacci(n):" 2>"$dir/log_$1x$2"
}
t0=$SECONDS
gen 1 1 >"$dir/out_1x1"
echo "tp1: $((SECONDS - t0)) s, first tokens $(python3 -c "import json,sys; print([json.loads(l)['output_token_ids'][:8] for l in open(sys.argv[1])])" "$dir/out_1x1")"
for l in $layouts; do
  tp=${l%x*} pp=${l#*x}
  t0=$SECONDS
  gen "$tp" "$pp" >"$dir/out_$l" || { echo "tp$tp x pp$pp: FAILED"; tail -5 "$dir/log_$l"; continue; }
  python3 - "$tp" "$pp" "$((SECONDS - t0))" "$dir/out_1x1" "$dir/out_$l" <<'PY'
import json, sys
tp, pp, secs, fa, fb = sys.argv[1:]
a = [json.loads(l)['output_token_ids'] for l in open(fa)]
b = [json.loads(l)['output_token_ids'] for l in open(fb)]
res = []
for x, y in zip(a, b):
    d = next((i for i, (u, v) in enumerate(zip(x, y)) if u != v), None)
    res.append("same %d/%d" % (len(x), len(x)) if d is None and len(x) == len(y) else "differs at step %s" % d)
print(f"tp{tp} x pp{pp} vs tp1 over {len(a[0])} greedy steps, 2 prompts: {'; '.join(res)} ({secs} s)")
PY
done
