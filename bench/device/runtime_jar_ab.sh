#!/usr/bin/env bash
# Same-run A/B of two runtime jars on the GPU machine's CPU: .devbench/moeprune-old.jar (before) and
# .devbench/moeprune-slim.jar (after), on the 1.9 B random Qwen3-MoE and on moe-tiny-7d's shape. Carry .devbench.
# Extra RuntimeBench runs: EXTRA="name|java options|model|threads" lines in the environment (optional).
set -u
JAVA=".devbench/jdk/bin/java --add-modules jdk.incubator.vector"
nproc; lscpu | grep -E 'Model name'; date -u
big=/tmp/qwen3moe-1.9b; tiny=/tmp/tiny7d-shape
$JAVA -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
$JAVA -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench --generate $tiny --shape 256,8,4,2,64,32,4,128,8192 2>&1 | grep -v WARNING
run() {  # label jar opts model threads
  local p=256 d=32 r=3
  if [ "$5" -le 4 ] && [ "$4" = "$big" ]; then p=128; d=16; r=2; fi
  echo "== $1 $(basename $4) threads $5"
  $JAVA $3 -cp .devbench/$2 io.moeprune.bench.RuntimeBench $4 --threads $5 --prompt $p --decode $d --runs $r 2>&1 \
    | grep -E '^(prefill|decode|measured)'
}
for t in 16 2; do
  for m in $big $tiny; do
    run old moeprune-old.jar "" $m $t
    run new moeprune-slim.jar "" $m $t
  done
done
[ -n "${JFR:-}" ] && run new-jfr moeprune-slim.jar "-XX:StartFlightRecording=filename=${OUT:-/tmp}/rt16.jfr,settings=profile" $big 16 && echo "== decode-heavy jfr" && $JAVA -XX:StartFlightRecording=filename=${OUT:-/tmp}/dec16.jfr,settings=profile -cp .devbench/moeprune-slim.jar io.moeprune.bench.RuntimeBench $big --threads 16 --prompt 8 --decode 200 --runs 2 2>&1 | grep -E "^(prefill|decode)"
