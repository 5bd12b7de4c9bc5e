#!/usr/bin/env bash
# Issue 22's speed goals in one device call (about 4-6 min on an H100/H200; every part has its own timeout, 9 min in
# all): the random 1.9 B Qwen3-MoE (RuntimeBench --generate, /tmp), then on the same GPU, model and batch
# transformers (bench/device/transformers_gpu_bench.py: prefill 8x2048 with labels, decode batches 32 and 1, the cuBLAS
# BF16 peak) and the Java GPU runtime (GpuSpeedBench: calibration and perplexity prefill 8x2048 over the weights the
# first run made resident, calibration with every layer streamed each run beside it, perplexity's former
# logits-download path beside it, greedy decode of one
# sequence through Generator and of 32 sequences stepped at once; with JAVA_OPTS=-Dmoeprune.gpuPhases=true the phase
# table of its calibrate and perplexity runs), the host's staging speed with 1 thread and with the staging pool
# and a streamed pass's host embeddings the same way (GpuStagingBench, about 25 s), then (unless KERNELS=0) the kernels' table (CudaOpsSpeedTest: the experts' grouped products as % of the cuBLAS
# peak, the attention paths) when .devbench has the test classes (WITH_TESTS=1), and the ratios against the goals.
# Carry .devbench (jdk, moeprune-slim.jar; NOTES.md, "The GPU machine"). Do not pipe the output through `tail`.
set -u
export PYTHONUNBUFFERED=1
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -Xmx24g ${JAVA_OPTS:-}"
# MODEL and SHAPE: another random model, e.g. the Qwen3-30B-A3B shape with 8 of its 48 layers (the per-layer work is
# the real model's; 11.2 GB): MODEL=/tmp/qwen3-30b-a3b-8l SHAPE=2048,8,32,4,128,128,8,768,151936 EMBEDDING_SCALE=256;
# STAGING=0 leaves out GpuStagingBench; GPU_PARTS: GpuSpeedBench's --parts (e.g. calibrate,perplexity,decode leaves out the streamed runs and the logits download).
M=${MODEL:-/tmp/qwen3moe-1.9b}
GEN="${SHAPE:+--shape $SHAPE} ${EMBEDDING_SCALE:+--embedding-scale $EMBEDDING_SCALE}"
LOG=/tmp/gpu_vs_transformers.log
: > $LOG
date -u
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 | head -2
[ -f $M/config.json ] || timeout 120 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $M $GEN 2>&1 | grep -v WARNING
echo "== transformers (BF16)"
timeout 180 python3 bench/device/transformers_gpu_bench.py $M --batch 8 --seq 2048 --decode-batch 32,1 --decode 64 --runs 3 2>&1 \
  | grep -E '^(device|cuBLAS|transformers|peak|Traceback|[A-Za-z]*Error)' | tee -a $LOG
echo "== java GPU runtime"
timeout 180 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.GpuSpeedBench $M --batch 8 --seq 2048 --prompt 128 --decode 64 --decode-batch 32 --runs 3 ${GPU_PARTS:+--parts $GPU_PARTS} 2>&1 \
  | grep -v WARNING | tee -a $LOG
[ "${STAGING:-1}" = 1 ] && echo "== host staging (GpuStagingBench: the layers staged from the mapped checkpoint, then 8x2048 embeddings, 1 thread against the pool)"
[ "${STAGING:-1}" = 1 ] && timeout 90 $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.GpuStagingBench $M --runs 3 2>&1 | grep -v WARNING
if [ -d .devbench/test-classes ] && [ "${KERNELS:-1}" = 1 ]; then
  echo "== kernels (CudaOpsSpeedTest)"
  timeout 180 $J -cp ".devbench/test-classes:src/test/resources:.devbench/moeprune-slim.jar:.devbench/junit:.devbench/junit/*" \
    RunTests io.moeprune.gpu.CudaOpsSpeedTest 2>&1 | grep -E '^(GPU operations|cuBLAS|grouped|attention)'
fi
echo "== ratios against issue 22's goals"
python3 - "$LOG" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
def rate(pattern):
    m = re.search(pattern + r"[^\n]*?: ([0-9.]+) tok/s", text)
    return float(m.group(1)) if m else None
tf_pre = rate(r"transformers prefill \S+")
tf_dec = {int(b): rate(r"transformers decode batch " + b + r" \(") for b in re.findall(r"transformers decode batch (\d+)", text)}
rows = [("calibrate prefill", rate(r"java-gpu calibrate \S+"), tf_pre, 1.5, "transformers prefill"),
        ("calibrate streamed", rate(r"java-gpu streamed calibrate \S+"), tf_pre, 1.5, "transformers prefill"),
        ("perplexity prefill", rate(r"java-gpu perplexity \S+"), tf_pre, 1.5, "transformers prefill"),
        ("decode batch 32", rate(r"java-gpu decode batch 32 \("), tf_dec.get(32), 1.0, "transformers decode batch 32"),
        ("decode batch 1", rate(r"java-gpu decode batch 1 \("), tf_dec.get(1), 1.0, "transformers decode batch 1")]
for name, java, base, goal, against in rows:
    if java is None or base is None:
        print(f"{name:22s} missing ({'java' if java is None else against})")
        continue
    ratio = java / base
    print(f"{name:22s} java {java:10.1f} tok/s  {against} {base:10.1f}  ratio {ratio:5.2f}  goal {goal:.1f}  "
          f"{'MET' if ratio >= goal else 'not met'}")
PY
date -u
