#!/usr/bin/env bash
# One device call: the Java runtime and transformers (BF16 and F32) on the same models and threads: the 1.9 B random
# Qwen3-MoE and a random model of moe-tiny-7d's exact shape. Java runs twice per configuration (before and after
# transformers), since a call's 16-thread figures swing by up to 2x between identical runs (a shared host); then
# decode-heavy Java runs (8-token prompt, 128 steps) for the bandwidth-roofline figure. The JVM flags are the
# launcher's (-XX:+UseParallelGC). Carry .devbench (jlinked JDK + slim jar, see NOTES.md). BIG_ONLY=1 skips the tiny
# shape; THREADS and DECODE_THREADS choose the thread counts, DTYPES transformers' dtypes. Do not pipe the output
# through `tail`: a call that reaches the device's time limit then returns nothing.
set -u
export PYTHONUNBUFFERED=1
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -cp .devbench/moeprune-slim.jar"
nproc; lscpu | grep -E 'Model name|Thread\(s\)'; date -u
big=/tmp/qwen3moe-1.9b; tiny=/tmp/tiny7d-shape
$J io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
[ -n "${BIG_ONLY:-}" ] || $J io.moeprune.bench.RuntimeBench --generate $tiny --shape 256,8,4,2,64,32,4,128,8192 2>&1 | grep -v WARNING
java_run() {
  $J io.moeprune.bench.RuntimeBench $1 --threads $2 --prompt $3 --decode $4 --runs $5 2>&1 | grep -E '^(prefill|decode|measured)'
}
models="$big $tiny"
[ -z "${BIG_ONLY:-}" ] || models=$big
for m in $models; do
  for t in ${THREADS:-16 8 2}; do
    [ "$m" = "$tiny" ] && [ "$t" = 8 ] && continue
    p=256; d=32; r=3
    if [ "$t" -le 4 ] && [ "$m" = "$big" ]; then p=128; d=16; r=2; fi
    echo "== $(basename $m) threads $t"
    java_run $m $t $p $d $r
    for dt in ${DTYPES:-bfloat16 float32}; do
      timeout 240 python3 bench/device/transformers_cpu_bench.py $m --threads $t --dtype $dt --prompt $p --decode $d --runs $r 2>&1 | grep '^transformers'
    done
    echo "-- java again"
    java_run $m $t $p $d $r
  done
done
for t in ${DECODE_THREADS:-16 12 8}; do
  echo "== decode-heavy $(basename $big) threads $t"
  $J io.moeprune.bench.RuntimeBench $big --threads $t --prompt 8 --decode 128 --runs 2 2>&1 | grep -E '^(decode|measured)'
done
