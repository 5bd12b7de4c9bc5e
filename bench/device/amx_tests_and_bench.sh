#!/usr/bin/env bash
# One device call (carry .devbench: jlinked JDK, slim jars, junit jars + RunTests, test classes):
# PART lists parts to run, in order:
#   tests       the kernel and runtime test classes on the Xeon, where the AMX tiles are native (AmxBf16Test's
#               native case runs there);
#   gemm        ExpertGemmBench on one thread with the tiles on and off (AMX="auto off");
#   ab          RuntimeBench on the 1.9 B random Qwen3-MoE: session-3 jar (moeprune-s3), this jar with
#               -Dmoeprune.amx=off, this jar (AMX auto), alternating, for THREADS (CONFIGS: other "jar|flags"
#               words); then transformers BF16 / F32 (TRANSFORMERS=0: not);
#   profile     -Dmoeprune.phases=true prefill profiles with the tiles on.
set -u
export PYTHONUNBUFFERED=1
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC"
date -u
big=/tmp/qwen3moe-1.9b
for part in ${PART:-tests}; do
case "$part" in
tests)
  python3 bench/device/amx_blob_check.py 2>&1 | tail -8
  $J -cp ".devbench/test-classes:src/test/resources:.devbench/moeprune-slim.jar:.devbench/junit:.devbench/junit/*" \
    RunTests io.moeprune.kernels.AmxBf16Test io.moeprune.kernels.KernelsTest io.moeprune.runtime.ConformanceTest \
    io.moeprune.runtime.MaskMatchesPrunedCheckpointTest io.moeprune.runtime.ObserverAndMaskTest \
    io.moeprune.kernels.QuantPanelsTest io.moeprune.runtime.QuantPanelsModelTest \
    io.moeprune.runtime.MlaExpandedPrefillTest 2>&1 \
    | grep -v -E 'WARNING|^\s*$' | grep -v -E '\[ +0 ' | tail -40
  ;;
gemm)
  for a in ${AMX:-auto off}; do
    echo "== ExpertGemmBench amx=$a"
    $J -Dmoeprune.amx=$a -cp .devbench/moeprune-slim.jar io.moeprune.bench.ExpertGemmBench 2>&1 | grep -E 'kernels|BF16'
  done
  ;;
ab)
  [ -d $big ] || $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING | tail -2
  for t in ${THREADS:-16 8 2}; do
    p=256; d=32; r=3
    if [ "$t" -le 4 ]; then p=128; d=16; r=2; fi
    for round in 1 2; do
      for cfg in ${CONFIGS:-"s3|" "slim|-Dmoeprune.amx=off" "slim|"}; do
        jar=${cfg%%|*}; flags=${cfg#*|}
        printf '%-5s %-20s threads %2s round %s: ' $jar "$flags" $t $round
        $J $flags -cp .devbench/moeprune-$jar.jar io.moeprune.bench.RuntimeBench $big --threads $t --prompt $p \
          --decode $d --runs $r 2>&1 | grep -E '^(prefill|decode)' | awk '{printf "%s %s  ", $1, $4}'
        echo
      done
    done
    if [ "${TRANSFORMERS:-1}" = 1 ]; then
      for dt in bfloat16 float32; do
        timeout 240 python3 bench/device/transformers_cpu_bench.py $big --threads $t --dtype $dt --prompt $p --decode $d \
          --runs $r 2>&1 | grep '^transformers'
      done
    fi
  done
  ;;
profile)
  # Where a prefill's time goes with the tiles on (-Dmoeprune.phases), per thread count; then the 1-thread GEMMs.
  [ -d $big ] || $J -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING | tail -2
  for t in ${THREADS:-8 16}; do
    echo "== phases, threads $t"
    $J -Dmoeprune.phases=true -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench $big --threads $t \
      --prompt 256 --decode 4 --runs 2 2>&1 | grep -v WARNING | sed -n '/^phase /,/decode steps/p' | head -30
  done
  ;;
esac
done
lscpu | grep -E 'Model name'
