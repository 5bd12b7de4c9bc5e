#!/usr/bin/env bash
# serve --device cuda on the GPU machine (issue 22's "later serve"), one device call per part.
# PART=bench (default, about 4-5 min on 16 cores and an H100): the random 1.9 B Qwen3-MoE (RuntimeBench --generate,
#   embedding scaled by 256, the tokenizer of .devbench), then the serve load test with the model on the CPU and on the
#   GPU in one process (ServeLoadBench --device cuda: each row's output tokens/s, p50/p99 latency, mean decode batch,
#   and the GPU/CPU ratio of output tokens/s at 1 and 32 clients), then the command itself: `serve --device cuda
#   --json` started, 32 greedy requests through curl one after another, then the same 32 at once (how many texts
#   are the same: batched products may part at a near tie), /metrics, SIGTERM (drain: exit 0 expected).
# PART=tests (about 1 min): io.moeprune.serve.ServeCudaTest (10 concurrent requests joining and leaving the decoder
#   slots against each served alone on CUDA; the start's refusal of --max-batch caches that do not fit) on the shared
#   moe-tiny-7d, from /tmp/moeprune-models or a .devcarry/moe-tiny-7d.tar.xz carried in this call (NOTES.md, "Device
#   calls waiting", item 2: .devbench and the model do not fit one call; .devbench is then taken from
#   /tmp/devbench-keep, left there by the PART=bench call on the same warm machine).
# Carry .devbench (scripts/build-devbench.sh, 53 MB; WITH_TESTS=1 for PART=tests, 56 MB). Env: MODEL (/tmp/qwen3moe-1.9b), SHAPE, CLIENTS (1,32),
# REQUESTS (32 a row), TOKENS (32 new tokens a request), CONTEXT (512 positions a KV cache slot), ROW_SECONDS (30).
set -u
[ -d .devbench ] || cp -r /tmp/devbench-keep .devbench
[ -d /tmp/devbench-keep ] || cp -r .devbench /tmp/devbench-keep
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx24g ${JAVA_OPTS:-}"
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
nproc
if [ "${PART:-bench}" = tests ]; then
  if [ ! -f /tmp/moeprune-models/moe-tiny-7d/config.json ] && [ -f .devcarry/moe-tiny-7d.tar.xz ]; then
    mkdir -p /tmp/moeprune-models && tar -xJf .devcarry/moe-tiny-7d.tar.xz -C /tmp/moeprune-models
  fi
  TESTS="io.moeprune.serve.ServeCudaTest" PROBE=0 timeout 300 bash bench/device/gpu_tests.sh
  exit
fi
M=${MODEL:-/tmp/qwen3moe-1.9b}
context=${CONTEXT:-512}
cli() {  # the command itself on DEVICE (cuda; PART=cli DEVICE=cpu MODEL=... checks this part anywhere)
  echo "== moeprune serve --device ${DEVICE:-cuda}"
  local out=/tmp/serve-gpu.out pids=() i port s
  $J -cp .devbench/moeprune-slim.jar io.moeprune.cli.Main serve "$M" --device "${DEVICE:-cuda}" --context "$context" \
    --port 0 --json > $out 2> /tmp/serve-gpu.err &
  local pid=$!
  for _ in $(seq 240); do grep -q '"port"' $out 2>/dev/null && break; kill -0 $pid 2>/dev/null || break; sleep 0.5; done
  cat $out; grep -v 'WARNING\|INFO\|io.helidon' /tmp/serve-gpu.err | head -5
  port=$(grep -o '"port" *: *[0-9]*' $out | grep -o '[0-9]*$')
  if [ -n "$port" ]; then
    rm -f /tmp/serve-gpu-*.json
    ask() {  # request i, answer to file
      curl -s -m 120 "http://127.0.0.1:$port/v1/completions" -o "$2" -d "{\"model\": \"$(basename "$M")\", \"prompt\": \"request $1: the kernel schedules\", \"max_tokens\": 32, \"temperature\": 0}"
    }
    s=$(date +%s%N)
    for i in $(seq 32); do ask $i /tmp/serve-gpu-alone-$i.json; done
    echo "32 requests one after another in $(( ($(date +%s%N) - s) / 1000000 )) ms"
    s=$(date +%s%N)
    for i in $(seq 32); do ask $i /tmp/serve-gpu-$i.json & pids+=($!); done
    wait "${pids[@]}"
    echo "32 concurrent requests in $(( ($(date +%s%N) - s) / 1000000 )) ms"
    python3 - <<'PY'
import json
same = answered = full = 0
for i in range(1, 33):
    a, b = (json.load(open(f"/tmp/serve-gpu{k}-{i}.json")) for k in ("-alone", ""))
    answered += "choices" in b
    full += b.get("usage", {}).get("completion_tokens") == 32
    same += a["choices"][0]["text"] == b["choices"][0]["text"]
print(f"answered {answered} of 32, {full} with 32 tokens; concurrent text = the same request alone for {same} of 32")
PY
    curl -s "http://127.0.0.1:$port/metrics" | grep -E '^moeprune_(decode_steps_total|decode_sequence_steps_total|requests_in_flight) '
  fi
  kill -TERM $pid; wait $pid; echo "serve exit code after SIGTERM: $? (0 expected)"
}
[ "${PART:-bench}" = cli ] && { cli; exit; }
t0=$(date +%s)
[ -f $M/config.json ] || timeout 120 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $M \
  ${SHAPE:+--shape $SHAPE} --embedding-scale 256 2>&1 | grep -v WARNING
cp .devbench/tokenizer/* "$M/"
echo "model ready in $(( $(date +%s) - t0 )) s"
echo "== serve load: cpu, then cuda, one process"
timeout 300 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.ServeLoadBench "$M" --device cuda --context "$context" \
  --clients "${CLIENTS:-1,32}" --requests "${REQUESTS:-32}" --max-new-tokens "${TOKENS:-32}" --seconds "${ROW_SECONDS:-30}" \
  2>&1 | grep -v 'WARNING\|INFO\|io.helidon'
cli
echo "total $(( $(date +%s) - t0 )) s"
