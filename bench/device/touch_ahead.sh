#!/usr/bin/env bash
# One device call (carry .devbench): MappedReadBench (anonymous vs mapped) at 16 and 8 threads, then decode-heavy
# RuntimeBench on the 1.9 B model, twice per configuration. In the 00:41 call of session 4 (BENCHMARKS.md) the bench
# also touched pages ahead, and rowDots took -Dmoeprune.touchAhead=0 / 2; neither had an effect and both are gone,
# so today the two decode configurations run the same code (a noise reference).
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -cp .devbench/moeprune-slim.jar"
date -u
big=/tmp/qwen3moe-1.9b
head -c 2G /dev/zero > /tmp/zero2g
for t in 16 8; do $J io.moeprune.bench.MappedReadBench /tmp/zero2g --threads $t 2>&1 | grep -v WARNING; done
$J io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING | tail -1
for t in 16 8; do
  for round in 1 2; do
    for ta in 0 2; do
      printf 'threads %2s touchAhead %s round %s: ' $t $ta $round
      $J -Dmoeprune.touchAhead=$ta io.moeprune.bench.RuntimeBench $big --threads $t --prompt 8 --decode 128 --runs 2 2>&1 \
        | grep -E '^(decode|measured: read)' | tr '\n' ' '
      echo
    done
  done
done
