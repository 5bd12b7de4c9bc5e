#!/usr/bin/env bash
# One device call: decode-heavy RuntimeBench runs (8-token prompt, 128 steps) of the old jar
# (.devbench/moeprune-old.jar) and the new one (.devbench/moeprune-slim.jar) in alternating order, with madvise
# variants and thread counts; then 256-token prefills; then the machine's topology and clock source.
set -u
JAVA=".devbench/jdk/bin/java --add-modules jdk.incubator.vector -XX:+UseParallelGC --enable-native-access=ALL-UNNAMED"
date -u
big=/tmp/qwen3moe-1.9b
$JAVA -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
rt() {  # label jar threads prompt decode runs [java options]
  echo "== $1 threads $3 prompt $4 decode $5 ${7:-}"
  $JAVA ${7:-} -cp .devbench/moeprune-$2.jar io.moeprune.bench.RuntimeBench $big --threads $3 --prompt $4 \
    --decode $5 --runs $6 2>&1 | grep -E '^(prefill|decode|measured|garbage)|madvise'
}
rt new slim 16 8 128 2
rt old old 16 8 128 2
rt new slim 16 8 128 2
rt old old 16 8 128 2
rt new-hugepage slim 16 8 128 2 "-Dmoeprune.madvise=hugepage -Dmoeprune.madvise.verbose=true"
grep -E 'FilePmdMapped|FileHugePages' /proc/meminfo
rt new-collapse slim 16 8 128 2 "-Dmoeprune.madvise=collapse -Dmoeprune.madvise.verbose=true"
grep -E 'FilePmdMapped|FileHugePages' /proc/meminfo
rt new slim 12 8 128 2
rt new slim 8 8 128 2
rt new-hugepage slim 8 8 128 2 "-Dmoeprune.madvise=hugepage"
rt new slim 16 256 32 3
rt old old 16 256 32 3
uname -r; cat /sys/kernel/mm/transparent_hugepage/enabled; df -T /tmp | tail -1
cat /sys/devices/system/clocksource/clocksource0/current_clocksource
lscpu | grep -E 'Model name|^CPU\(s\)|Thread|Core|Socket|L1d|L2|L3|NUMA node\(s\)'; grep -o 'amx_[a-z0-9]*\|avx512_bf16' /proc/cpuinfo | sort -u | tr '\n' ' '
