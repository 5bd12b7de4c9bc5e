#!/usr/bin/env bash
# The shared trained model (carried in .devcarry/moe-tiny-7d) through the Java runtime and transformers, same threads.
# Expects .devbench from a previous call on the same warm machine (or carried together when space allows).
set -u
export PYTHONUNBUFFERED=1
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector -cp .devbench/moeprune-slim.jar"
m=.devcarry/moe-tiny-7d
for t in 16 2; do
  echo "== threads $t"
  $J io.moeprune.bench.RuntimeBench $m --threads $t --prompt 256 --decode 32 --runs 3 2>&1 | grep -v WARNING
  for dt in bfloat16 float32; do
    python3 bench/device/transformers_cpu_bench.py $m --threads $t --dtype $dt --prompt 256 --decode 32 --runs 3 2>&1 | grep -v -i warn | tail -1
  done
done
