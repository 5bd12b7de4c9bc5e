#!/usr/bin/env bash
# On the GPU machine's CPU: the Java runtime and transformers on the same random 1.9 B Qwen3-MoE, same threads.
# Carry .devbench (a jlinked JDK 25 in .devbench/jdk and the jar as .devbench/moeprune-slim.jar); see BENCHMARKS.md.
set -u
export PYTHONUNBUFFERED=1
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector -cp .devbench/moeprune-slim.jar"
big=/tmp/qwen3moe-1.9b
nproc; lscpu | grep -E 'Model name|^CPU\(s\)|Thread|Socket|NUMA node\(s\)'; free -g | head -2
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'
[ -d $big ] || $J io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
for t in ${THREADS:-16 2}; do
  p=256; d=32; r=3
  if [ "$t" -le 4 ]; then p=128; d=16; r=2; fi
  echo "== threads $t"
  $J io.moeprune.bench.RuntimeBench $big --threads $t --prompt $p --decode $d --runs $r 2>&1 | grep -v WARNING
  for dt in bfloat16 float32; do
    timeout 240 python3 bench/device/transformers_cpu_bench.py $big --threads $t --dtype $dt --prompt $p --decode $d --runs $r 2>&1 | grep -v -i warn | tail -1
  done
done
