#!/usr/bin/env bash
# Where a decode step's GPU time goes, per kernel, on the GPU machine (Nsight Compute from the CUDA
# toolkit): `strata bench throughput` on the Llama-3.1-8B shape (bf16 dummy weights) with N prompts of
# IN tokens and NEW new tokens each; ncu skips the first SKIP kernels (load, graph capture, prefill and
# the early decode steps; a decode step is ~290 kernels, graph nodes profiled one by one) and measures
# the next COUNT: time and DRAM bytes per kernel, summed by kernel name, largest first, with the
# achieved bandwidth.
#   tools/profile_gpu.sh [N=256] [IN=128] [NEW=512] [SKIP=100000] [COUNT=580]
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/device_env.sh
out=${OUT:-/tmp/strata-profile}
mkdir -p "$out"
[[ -x build/cuda/strata ]] || device_build "$out" || exit 1
n=${1:-256} in=${2:-128} new=${3:-512} skip=${4:-100000} count=${5:-580}
ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null | head -1)
[[ -n "$ncu" ]] || { echo "ncu not found"; exit 1; }
dir=$(mktemp -d)
llama8b_dir "$dir"
"$ncu" --csv --print-units base --launch-skip "$skip" --launch-count "$count" \
  --metrics gpu__time_duration.sum,dram__bytes_read.sum,dram__bytes_write.sum \
  build/cuda/strata bench throughput --model "$dir" --load-format dummy --dtype bfloat16 --max-model-len 4096 \
  --num-prompts "$n" --input-len "$in" --output-len "$new" --max-num-seqs "$n" >"$out/ncu.csv" 2>"$out/ncu.log" ||
  { tail -20 "$out/ncu.log"; exit 1; }
python3 - "$out/ncu.csv" <<'PY'
import csv, collections, sys
lines = open(sys.argv[1]).read().splitlines()
start = next(i for i, l in enumerate(lines) if l.startswith('"ID"'))
agg = collections.defaultdict(lambda: [0, 0.0, 0.0])  # launches, ns, bytes
seen = set()
for r in csv.DictReader(lines[start:]):
    name = r["Kernel Name"].split("(")[0][:90]
    key = (r["ID"], name)
    a = agg[name]
    if key not in seen:
        seen.add(key)
        a[0] += 1
    v = float(r["Metric Value"].replace(",", ""))
    if r["Metric Name"] == "gpu__time_duration.sum":
        a[1] += v
    else:
        a[2] += v
total = sum(a[1] for a in agg.values())
print(f"{len(seen)} kernels, {total / 1e6:.3f} ms GPU time")
for name, (k, ns, b) in sorted(agg.items(), key=lambda x: -x[1][1])[:25]:
    print(f"{100 * ns / total:5.1f}%  {k:5d} x {ns / k / 1e3:8.1f} us  {b / ns:7.1f} GB/s  {name}")
PY
