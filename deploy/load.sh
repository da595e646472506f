#!/usr/bin/env bash
# Load generator from the reference deployment guide: N parallel loops, each sending the same
# completion request to the server over and over, to drive the HPA / watch the metrics.
#
#   deploy/load.sh <base-url> <parallel-loops>
#   deploy/load.sh http://localhost:8080 10
#
# Environment:
#   MODEL       model name to put in the request (default: omitted, the server's model)
#   DURATION    stop after this many seconds (default: run until Ctrl-C)
#   ITERATIONS  requests per loop before it stops (default: unlimited)
#   MAX_TOKENS  max_tokens of each request (default: 100)
#   QUIET=1     print one status line per request instead of the response bodies
set -euo pipefail

usage() {
  echo "usage: $0 <base-url> <parallel-loops>   e.g. $0 http://localhost:8080 10" >&2
  echo "env: MODEL, DURATION (s), ITERATIONS (per loop), MAX_TOKENS (100), QUIET=1" >&2
  exit 2
}

[[ $# -eq 2 ]] || usage
base_url="${1%/}"
parallel="$2"
[[ "$parallel" =~ ^[1-9][0-9]*$ ]] || usage
duration="${DURATION:-0}"
iterations="${ITERATIONS:-0}"
max_tokens="${MAX_TOKENS:-100}"
quiet="${QUIET:-0}"
[[ "$duration" =~ ^[0-9]+$ && "$iterations" =~ ^[0-9]+$ && "$max_tokens" =~ ^[0-9]+$ ]] || usage
command -v curl >/dev/null || { echo "$0: curl is required" >&2; exit 1; }

if [[ -n "${MODEL:-}" ]]; then
  model_json="\"model\": \"${MODEL//\"/\\\"}\", "
else
  model_json=""
fi
body="{${model_json}\"prompt\": \"Write a story about san francisco\", \"max_tokens\": ${max_tokens}, \"temperature\": 0}"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do
    if command -v pkill >/dev/null; then pkill -P "$pid" 2>/dev/null || true; fi  # its curl
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
}
trap 'stop; exit 130' INT
trap 'stop; exit 143' TERM
trap stop EXIT

loop() {
  local id="$1" n=0 code
  while [[ "$iterations" -eq 0 || "$n" -lt "$iterations" ]]; do
    n=$((n + 1))
    if [[ "$quiet" == "1" ]]; then
      code=$(curl -sS -o /dev/null -w '%{http_code}' -X POST "${base_url}/v1/completions" \
        -H 'Content-Type: application/json' -d "$body" || echo "000")
      echo "loop ${id} request ${n}: HTTP ${code}"
    else
      curl -sS -X POST "${base_url}/v1/completions" -H 'Content-Type: application/json' -d "$body" || true
      echo
    fi
  done
}

echo "sending to ${base_url}/v1/completions from ${parallel} loops; Ctrl-C stops" >&2
for ((i = 1; i <= parallel; i++)); do
  loop "$i" &
  pids+=("$!")
done

if [[ "$duration" -gt 0 ]]; then
  end=$((SECONDS + duration))
  while [[ $SECONDS -lt $end ]]; do
    running=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && running=1; done
    [[ $running -eq 1 ]] || break
    sleep 1
  done
  stop
else
  wait "${pids[@]}"
fi
