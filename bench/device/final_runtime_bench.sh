#!/usr/bin/env bash
# One device call: the Java runtime and transformers (BF16 and F32) on the same models and threads: the 1.9 B random
# Qwen3-MoE and a random model of moe-tiny-7d's exact shape; then decode-heavy Java runs (8-token prompt, 128 steps)
# for the bandwidth-roofline figure. Carry .devbench (jlinked JDK + slim jar, see NOTES.md).
set -u
export PYTHONUNBUFFERED=1
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector -cp .devbench/moeprune-slim.jar"
nproc; lscpu | grep -E 'Model name'; date -u
big=/tmp/qwen3moe-1.9b; tiny=/tmp/tiny7d-shape
$J io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
$J io.moeprune.bench.RuntimeBench --generate $tiny --shape 256,8,4,2,64,32,4,128,8192 2>&1 | grep -v WARNING
for m in $big $tiny; do
  for t in ${THREADS:-16 12 2}; do
    [ "$m" = "$tiny" ] && [ "$t" = 12 ] && continue
    p=256; d=32; r=3
    if [ "$t" -le 4 ] && [ "$m" = "$big" ]; then p=128; d=16; r=2; fi
    echo "== $(basename $m) threads $t"
    $J io.moeprune.bench.RuntimeBench $m --threads $t --prompt $p --decode $d --runs $r 2>&1 | grep -E '^(prefill|decode|measured)'
    for dt in bfloat16 float32; do
      timeout 240 python3 bench/device/transformers_cpu_bench.py $m --threads $t --dtype $dt --prompt $p --decode $d --runs $r 2>&1 | grep '^transformers'
    done
  done
done
for t in 16 12; do
  echo "== decode-heavy $(basename $big) threads $t"
  $J io.moeprune.bench.RuntimeBench $big --threads $t --prompt 8 --decode 128 --runs 2 2>&1 | grep -E '^(decode|measured)'
done
