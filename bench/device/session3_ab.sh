#!/usr/bin/env bash
# One device call: the machine's topology, the per-core expert GEMM, then RuntimeBench of the old jar
# (.devbench/moeprune-old.jar) and the new one (.devbench/moeprune-slim.jar, with phase times) on the 1.9 B random
# Qwen3-MoE at several thread counts, and decode-heavy runs (8-token prompt, 128 steps) with spin variants.
set -u
JAVA=".devbench/jdk/bin/java --add-modules jdk.incubator.vector -XX:+UseParallelGC"
lscpu | grep -E 'Model name|^CPU\(s\)|Thread|Core|Socket|L1d|L2|L3|NUMA node\(s\)'; grep -o -m1 'amx[a-z_0-9]*\|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' '; echo; date -u
big=/tmp/qwen3moe-1.9b
$JAVA -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
echo "== expertGemm slim"
$JAVA -cp .devbench/moeprune-slim.jar io.moeprune.bench.ExpertGemmBench 2>&1 | grep -E '^(kernels|matMul)'
rt() {  # label jar threads prompt decode runs [java options]
  echo "== $1 threads $3 prompt $4 decode $5"
  $JAVA ${7:-} -cp .devbench/moeprune-$2.jar io.moeprune.bench.RuntimeBench $big --threads $3 --prompt $4 \
    --decode $5 --runs $6 2>&1 | grep -vE 'WARNING|^$|^model|^active'
}
for t in ${THREADS:-16 8 2}; do
  p=256; d=32; r=3
  if [ "$t" -le 4 ]; then p=128; d=16; r=2; fi
  rt old old $t $p $d $r
  rt new slim $t $p $d $r -Dmoeprune.phases=true
done
rt old-decode old 16 8 128 2
rt new-decode slim 16 8 128 2 -Dmoeprune.phases=true
rt new-decode-spin2ms slim 16 8 128 2 -Dmoeprune.spinMicros=2000
rt new-decode slim 12 8 128 2
rt new-decode slim 8 8 128 2 -Dmoeprune.phases=true
