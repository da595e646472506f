#!/usr/bin/env bash
# CPU figures for a Llama-3.2-1B-shaped model with dummy weights (the real config.json and the
# Llama 3.1 tokenizer from ../shared/testdata), each over a limit measured in the same run:
#  1. `strata generate` decode at batch 1 and 8 over the memory roofline (copy bandwidth / bytes of
#     f32 weights read per decode step);
#  2. `strata bench throughput` (random prompts) over the fp32 GEMM rate (OpenBLAS sgemm 2048^3):
#     achieved model FLOP/s = total tokens/s x 2 x parameters.
#   tools/bench_cpu.sh [build/cpu] [max_tokens=32] [num_prompts=32] [input_len=128] [output_len=32]
set -euo pipefail
build=${1:-build/cpu}
max_tokens=${2:-32}
num_prompts=${3:-32}
input_len=${4:-128}
output_len=${5:-32}
testdata=$(cd "$(dirname "$0")/../../shared/testdata" && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cp "$testdata/llama3-hf-configs/Llama-3.2-1B.config.json" "$dir/config.json"
cp "$testdata/llama3-hf-configs/Llama-3.2-1B.generation_config.json" "$dir/generation_config.json"
gunzip -c "$testdata/hf-tokenizers/llama-3.1-instruct/tokenizer.json.gz" >"$dir/tokenizer.json"
cp "$testdata/hf-tokenizers/llama-3.1-instruct/tokenizer_config.json" "$dir/"

perf=$("$build/strata_hostperf" 1)
bw=$(awk '/copy_bandwidth_GBps/ {print $2}' <<<"$perf")
gemm=$(awk '/sgemm_GFLOPs/ {print $2}' <<<"$perf")
# Weights read per decode step (f32 on the CPU backend): all parameters of Llama-3.2-1B, the tied
# embedding counted once (it is read as the LM head).
params=$(python3 -c "
import json; c=json.load(open('$dir/config.json'))
h,i,l,v=c['hidden_size'],c['intermediate_size'],c['num_hidden_layers'],c['vocab_size']
hd=c.get('head_dim',h//c['num_attention_heads']); q=c['num_attention_heads']*hd; kv=c['num_key_value_heads']*hd
print(l*(h*q+2*h*kv+q*h+3*h*i+2*h)+h+v*h)")
roof=$(python3 -c "print(f'{$bw*1e9/($params*4):.2f}')")
prompt="The history of the city of San Francisco begins with the Ohlone people, who lived in"
printf "copy bandwidth %s GB/s; f32 weights %.2f GB; roofline %s decode steps/s\n" "$bw" \
  "$(python3 -c "print($params*4/1e9)")" "$roof"
printf "%-6s %-14s %-16s %-12s\n" batch "output tok/s" "decode steps/s" "of roofline"
for batch in 1 8; do
  args=()
  for ((i = 0; i < batch; i++)); do args+=(--prompt "$prompt $i"); done
  log=$("$build/strata" generate --model "$dir" --load-format dummy --ignore-eos --temperature 0 \
        --max-tokens "$max_tokens" "${args[@]}" 2>&1 >/dev/null | grep "generated tokens/s")
  tps=$(sed -E 's/.* ([0-9.]+) generated tokens\/s.*/\1/' <<<"$log")
  steps=$(python3 -c "print(f'{$tps/$batch:.2f}')")
  printf "%-6s %-14s %-16s %-12s\n" "$batch" "$tps" "$steps" "$(python3 -c "print(f'{$steps/$roof:.2f}')")"
done

out=$("$build/strata" bench throughput --model "$dir" --load-format dummy --num-prompts "$num_prompts" \
      --input-len "$input_len" --output-len "$output_len" 2>/dev/null)
echo "$out"
total=$(sed -nE 's/.* ([0-9.]+) total tokens\/s.*/\1/p' <<<"$out")
python3 -c "
f = $total * 2 * $params / 1e9
print(f'bench throughput {$num_prompts}x{$input_len}in/{$output_len}out: {f:.1f} model GFLOP/s = {f / $gemm:.2f} of sgemm {$gemm} GFLOP/s')"
