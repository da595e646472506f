#!/usr/bin/env bash
# GPU figures for docs/perf.md, on the GPU machine, each divided by a ceiling measured in the same run
# (tools/gpuperf.cu: device-to-device copy bandwidth, cuBLAS bf16 GEMM rate). Llama-3.1-8B shape
# (the real config.json, the Llama 3.1 tokenizer), bf16 dummy weights generated on the GPU.
#   tools/bench_gpu.sh [decode|prefill|serve|all]... (default all)
#  decode   batch-1 decode: `strata bench throughput` 1 prompt x 128 in / 256 out, output tok/s over
#           the roofline copy bandwidth / bf16 weight bytes
#  prefill  1x8192 and 16x1024 prompts, 1 output token: prompt tok/s and model TFLOP/s (2 x params per
#           token + causal attention) over the bf16 GEMM rate
#  serve    `strata bench serve` against `strata serve`: random 1024/128 and 128/1024, 1000 prompts,
#           concurrency 64 and 256 (override: SERVE_PROMPTS, SERVE_SHAPES="1024:128 128:1024",
#           SERVE_CONC="64 256", SERVE_BATCHED_TOKENS=2048)
set -uo pipefail
cd "$(dirname "$0")/.."
source tools/device_env.sh
out=${OUT:-/tmp/strata-bench}
mkdir -p "$out"
[[ -x build/cuda/strata ]] || device_build "$out" || exit 1
what=("$@")
[[ ${#what[@]} -eq 0 ]] && what=(decode prefill serve)
want() { [[ " ${what[*]} " == *" $1 "* ]]; }

dir=$(mktemp -d)
llama8b_dir "$dir"

perf=$(build/cuda/strata_gpuperf)
echo "$perf"
bw=$(awk '/copy_bandwidth_GBps/ {print $2}' <<<"$perf")
gemm=$(awk '/bf16_gemm_TFLOPs/ {print $2}' <<<"$perf")
read -r params layers heads hd <<<"$(python3 -c "
import json; c=json.load(open('$dir/config.json'))
h,i,l,v=c['hidden_size'],c['intermediate_size'],c['num_hidden_layers'],c['vocab_size']
hd=c.get('head_dim',h//c['num_attention_heads']); q=c['num_attention_heads']*hd; kv=c['num_key_value_heads']*hd
tied=c.get('tie_word_embeddings',False)
print(l*(h*q+2*h*kv+q*h+3*h*i+2*h)+h+v*h*(1 if tied else 2), l, c['num_attention_heads'], hd)")"
# Bytes read per decode step: every weight once, except the embedding table (one row per token).
wbytes=$(python3 -c "
import json; c=json.load(open('$dir/config.json'))
print(2*($params - (0 if c.get('tie_word_embeddings',False) else c['vocab_size']*c['hidden_size'])))")
roof=$(python3 -c "print(f'{$bw*1e9/$wbytes:.1f}')")
printf "ceilings: copy %s GB/s, bf16 GEMM %s TFLOP/s; Llama-3.1-8B %.2f B params, %.2f GB bf16 read per decode step, roofline %s tok/s\n" \
  "$bw" "$gemm" "$(python3 -c "print($params/1e9)")" "$(python3 -c "print($wbytes/1e9)")" "$roof" | tee "$out/ceilings.txt"
common=(--model "$dir" --load-format dummy --dtype bfloat16)
summary=()

if want decode; then
  r=$(build/cuda/strata bench throughput "${common[@]}" --max-model-len 4096 --num-prompts 1 --input-len 128 \
      --output-len 256 2>"$out/decode.log")
  echo "$r"
  tps=$(sed -nE 's/.* ([0-9.]+) output tokens\/s.*/\1/p' <<<"$r")
  summary+=("batch-1 decode 128 in/256 out: $tps tok/s = $(python3 -c "print(f'{$tps/$roof:.3f}')") of roofline $roof tok/s")
  # The same through the parallel group's path (a 1-rank group: rank thread, NCCL, step codec).
  r=$(STRATA_DISTRIBUTED=1 build/cuda/strata bench throughput "${common[@]}" --max-model-len 4096 --num-prompts 1 \
      --input-len 128 --output-len 256 2>"$out/decode_group.log")
  gtps=$(sed -nE 's/.* ([0-9.]+) output tokens\/s.*/\1/p' <<<"$r")
  summary+=("batch-1 decode, 1-rank group path: $gtps tok/s = $(python3 -c "print(f'{$gtps/$roof:.3f}')") of roofline")
fi

if want prefill; then
  for shape in "1 8192" "16 1024"; do
    read -r n len <<<"$shape"
    r=$(build/cuda/strata bench throughput "${common[@]}" --max-model-len $((len + 8)) --num-prompts "$n" \
        --input-len "$len" --output-len 1 --max-num-batched-tokens $((n * len)) --max-num-seqs "$n" 2>"$out/prefill_$n.log")
    echo "$r"
    el=$(sed -nE 's/^Elapsed: ([0-9.]+) s.*/\1/p' <<<"$r")
    summary+=("$(python3 -c "
n,l,el=$n,$len,$el
tok=n*l/el
flops=n*(2*$params*l + 4*$layers*$heads*$hd*l*(l+1)/2)/el
print(f'prefill {n}x{l}: {tok:.0f} prompt tok/s, {flops/1e12:.0f} TFLOP/s = {flops/1e12/$gemm:.2f} of bf16 GEMM')")")
  done
fi

if want serve; then
  port=8197
  build/cuda/strata serve "$dir" --load-format dummy --dtype bfloat16 --port $port --max-model-len 4096 \
    --max-num-seqs 256 --max-num-batched-tokens "${SERVE_BATCHED_TOKENS:-2048}" --disable-log-requests >"$out/serve.log" 2>&1 &
  pid=$!
  for _ in $(seq 300); do curl -sf localhost:$port/health >/dev/null && break; sleep 1; done
  for shape in ${SERVE_SHAPES:-1024:128 128:1024}; do
    il=${shape%:*} ol=${shape#*:}
    for conc in ${SERVE_CONC:-64 256}; do
      r=$(build/cuda/strata bench serve --base-url http://127.0.0.1:$port --model "$dir" --dataset-name random \
          --random-input-len "$il" --random-output-len "$ol" --num-prompts "${SERVE_PROMPTS:-1000}" --max-concurrency "$conc" \
          --ignore-eos --seed 0 --percentile-metrics ttft,tpot,itl --metric-percentiles 50,99 2>&1)
      echo "$r" >"$out/serve_${il}_${ol}_c$conc.txt"
      summary+=("serve random ${il}/${ol} c=$conc: $(grep -E 'Output token throughput' <<<"$r" | awk '{print $NF}') out tok/s;" \
                " TTFT p50/p99 $(grep -E 'Median TTFT|P99 TTFT' <<<"$r" | awk '{print $NF}' | paste -sd/) ms;" \
                " TPOT p50/p99 $(grep -E 'Median TPOT|P99 TPOT' <<<"$r" | awk '{print $NF}' | paste -sd/) ms")
    done
  done
  kill -TERM $pid; wait $pid
fi
echo "== summary ($(nvidia-smi --query-gpu=name --format=csv,noheader))"
printf '%s\n' "${summary[@]}" | tee "$out/summary.txt"
