#!/usr/bin/env bash
# Two hosts as Linux network namespaces joined by a veth pair, each running `strata serve` with the
# variables LeaderWorkerSet injects (leader + 1 worker, --pipeline-parallel-size 2, CPU):
#   1. the e2e suite's core cases (completions, chat, errors) pass against the leader;
#   2. killing the worker makes the leader answer /health 503 (or stop answering) and exit non-zero
#      within 30 s;
#   3. a worker started 30 s after the leader still forms the group (the leader waits and logs).
# Needs root (ip netns); exits 77 (skipped) without it. STRATA_BINARY: the binary (build/cpu/strata).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${STRATA_BINARY:-$root/build/cpu/strata}
testdata=${STRATA_TESTDATA:-$root/../shared/testdata}
if [[ $(id -u) != 0 ]] || ! command -v ip >/dev/null || ! ip netns add strata-probe-$$ 2>/dev/null; then
  echo "skipped: needs root and ip netns"; exit 77
fi
ip netns del strata-probe-$$
tag=s$$
L=${tag}L W=${tag}W
work=$(mktemp -d)
leader_pid= worker_pid=
cleanup() {
  [[ -n "$leader_pid" ]] && kill -9 "$leader_pid" 2>/dev/null
  [[ -n "$worker_pid" ]] && kill -9 "$worker_pid" 2>/dev/null
  ip netns del "$L" 2>/dev/null; ip netns del "$W" 2>/dev/null
  ip link del "${tag}r" 2>/dev/null
  rm -rf "/etc/netns/$L" "/etc/netns/$W"
  [[ ${keep:-0} == 1 ]] || rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; echo "--- leader log"; tail -40 "$work/leader.log"; echo "--- worker log"; tail -40 "$work/worker.log"; keep=1; exit 1; }

# Hosts: L (10.231.0.1) <-> W (10.231.0.2); this namespace reaches L's API through 10.232.0.2.
ip netns add "$L" && ip netns add "$W" || fail "ip netns add"
ip link add "${tag}a" type veth peer name "${tag}b" || fail "veth"
ip link set "${tag}a" netns "$L"; ip link set "${tag}b" netns "$W"
ip link add "${tag}r" type veth peer name "${tag}c"
ip link set "${tag}c" netns "$L"
ip addr add 10.232.0.1/24 dev "${tag}r"; ip link set "${tag}r" up
ip -n "$L" addr add 10.231.0.1/24 dev "${tag}a"; ip -n "$L" addr add 10.232.0.2/24 dev "${tag}c"
ip -n "$W" addr add 10.231.0.2/24 dev "${tag}b"
for ns in "$L" "$W"; do ip -n "$ns" link set lo up; done
ip -n "$L" link set "${tag}a" up; ip -n "$L" link set "${tag}c" up; ip -n "$W" link set "${tag}b" up
# The leader's name as LeaderWorkerSet gives it (<lws>-<group>.<lws>.<namespace>), resolvable on both.
leader_name=strata-0.strata.default
for ns in "$L" "$W"; do
  mkdir -p "/etc/netns/$ns"
  printf '127.0.0.1 localhost\n10.231.0.1 %s\n' "$leader_name" > "/etc/netns/$ns/hosts"
done

# The llama3 fixture as a model directory with its real tokenizer.
model=$work/llama3
mkdir -p "$model"
cp "$root"/tests/fixtures/models/llama3/* "$model/"
tok=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['tokenizer'])" "$model/golden.json")
gunzip -c "$testdata/$tok/tokenizer.json.gz" > "$model/tokenizer.json" || fail "tokenizer $testdata/$tok"
cp "$testdata/$tok/tokenizer_config.json" "$model/"

args=(serve "$model" --served-model-name tiny-llama --max-model-len 512 --enable-request-id-headers
      --kv-cache-memory 64MiB --pipeline-parallel-size 2 --host 0.0.0.0 --port 8000 --rendezvous-timeout 120)
start_leader() {
  ip netns exec "$L" env LWS_LEADER_ADDRESS=$leader_name LWS_GROUP_SIZE=2 LWS_WORKER_INDEX=0 OMP_WAIT_POLICY=passive \
    "$bin" "${args[@]}" >>"$work/leader.log" 2>&1 &
  leader_pid=$!
}
start_worker() {
  ip netns exec "$W" env LWS_LEADER_ADDRESS=$leader_name LWS_GROUP_SIZE=2 LWS_WORKER_INDEX=1 OMP_WAIT_POLICY=passive \
    "$bin" "${args[@]}" >>"$work/worker.log" 2>&1 &
  worker_pid=$!
}
health() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 http://10.232.0.2:8000/health; }
wait_healthy() {  # seconds
  for ((i = 0; i < $1 * 10; i++)); do
    [[ $(health) == 200 ]] && return 0
    kill -0 "$leader_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 1
}

echo "== 1. leader + worker (pp=2 over the veth pair): e2e core cases against the leader"
start_leader; start_worker
wait_healthy 60 || fail "the group did not become healthy"
grep -q "worker node 1 joined from 10.231.0.2" "$work/leader.log" || fail "the leader did not log the worker joining"
STRATA_E2E_URL=http://10.232.0.2:8000 STRATA_BINARY="$bin" "$root/tests/e2e/run.sh" -q -p no:cacheprovider \
  "$root/tests/e2e/test_completions.py" "$root/tests/e2e/test_chat.py" "$root/tests/e2e/test_errors.py" \
  >"$work/pytest.log" 2>&1
rc=$?
tail -3 "$work/pytest.log"
[[ $rc == 0 ]] || { tail -60 "$work/pytest.log"; fail "e2e core cases against the leader"; }

echo "== 2. kill -9 the worker: the leader turns unhealthy and exits non-zero"
t0=$(date +%s%N)
kill -9 "$worker_pid"; wait "$worker_pid" 2>/dev/null; worker_pid=
saw503=0
for ((i = 0; i < 300; i++)); do
  code=$(health)
  [[ $code == 503 ]] && saw503=1
  kill -0 "$leader_pid" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$leader_pid" 2>/dev/null && fail "the leader still runs 30 s after the worker died"
wait "$leader_pid"; leader_rc=$?; leader_pid=
ms=$(( ($(date +%s%N) - t0) / 1000000 ))
echo "leader exit code $leader_rc ${ms} ms after the kill; /health 503 seen: $saw503"
[[ $leader_rc != 0 ]] || fail "the leader exited 0 after losing its worker"
grep -q "lost worker node 1" "$work/leader.log" || fail "the leader did not log the lost worker"

echo "== 3. the worker starts 30 s after the leader: the group still forms"
: >"$work/leader.log"; : >"$work/worker.log"
start_leader
sleep 30
kill -0 "$leader_pid" 2>/dev/null || fail "the leader gave up before the worker came"
grep -q "waiting for worker node(s) 1 to join" "$work/leader.log" || fail "the leader did not log whom it waits for"
start_worker
wait_healthy 60 || fail "the group did not form with a late worker"
out=$(curl -s --max-time 30 http://10.232.0.2:8000/v1/completions -H 'Content-Type: application/json' \
  -d '{"model":"tiny-llama","prompt":"The capital of France is","max_tokens":8,"temperature":0}')
echo "$out" | grep -q '"finish_reason"' || fail "completion after the late join: $out"
kill -TERM "$leader_pid"; wait "$leader_pid"; leader_rc=$?; leader_pid=
for ((i = 0; i < 100; i++)); do kill -0 "$worker_pid" 2>/dev/null || break; sleep 0.1; done
wait "$worker_pid"; worker_rc=$?; worker_pid=
echo "SIGTERM: leader exit $leader_rc, worker exit $worker_rc"
[[ $leader_rc == 0 && $worker_rc == 0 ]] || fail "clean shutdown of the group"
echo "PASS: netns multi-node (leader + worker, pp=2)"
