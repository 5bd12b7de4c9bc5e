#!/usr/bin/env bash
# One device call: the serve load test (bench/run serveLoad) on the random 1.9 B Qwen3-MoE (64 experts, top-8, 16
# layers), every expert mapped against pattern-served (resident experts), at 1, 8 and 32 concurrent clients: requests/s,
# p50/p99 latency, output tokens/s and the 32-vs-1 ratio (goal: at least 3x), VmRSS/VmHWM of each process, resident
# expert bytes against K/E of the full model's (goal: at most K/E + 10 %), and the mean time to match a prompt and to
# bring a pattern's experts in. Each mode runs in a process of its own, so that its resident set is its own, with a
# fixed, pre-touched heap (HEAP, 3g), so that the heap adds the same to each: full (every expert mapped), patterns
# (each prompt matched; three patterns resident) and one pattern (every request names the code task: the K/E check).
# The pattern store has three tasks of distinct synthetic demonstration texts (code, arithmetic, prose), --keep K of E.
# Carry .devbench (scripts/build-devbench.sh: jlinked JDK, slim jar, tokenizer). Takes about 7 minutes on 16 cores.
# Env: SHAPE (RandomMoeModel shape, default the 1.9 B one), KEEP (16), CLIENTS (1,8,32), REQUESTS (32 a row),
# TOKENS (new tokens a request, 32), ROW_SECONDS (a row stops sending after this long, 40), THREADS (compute
# threads, default all cores), HEAP (3g), ONE_CLIENTS (1,32), WORK (/tmp/serve-load), BATCHED (1: the batchedDecode
# bench at the end, about a minute).
set -u
heap=${HEAP:-3g}
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -cp .devbench/moeprune-slim.jar"
JF="$J -Xms$heap -Xmx$heap -XX:+AlwaysPreTouch"
work=${WORK:-/tmp/serve-load}; m=$work/model; store=$work/store; demos=$work/demos
keep=${KEEP:-16}; clients=${CLIENTS:-1,8,32}; requests=${REQUESTS:-32}; tokens=${TOKENS:-32}
nproc; lscpu | grep -E 'Model name' ; date -u
rm -rf "$work"; mkdir -p "$demos"
t0=$(date +%s)
# Embedding scaled by 256 (as LayerMajorBench's): the prompts route to every expert, so the full rows touch them all.
$J io.moeprune.bench.RuntimeBench --generate "$m" ${SHAPE:+--shape $SHAPE} --embedding-scale 256 2>&1 | grep -v WARNING
cp .devbench/tokenizer/* "$m/"
experts=$(grep -o '"num_experts" : [0-9]*' "$m/config.json" | grep -o '[0-9]*$')
# Three tasks of distinct texts, four demonstrations each.
for i in 1 2 3 4; do
  printf '{"text": "public class Task%d { public static int run(int[] xs) { int s = 0; for (int x : xs) s += x * %d; return s; } }"}\n' $i $i >> "$demos/code.jsonl"
  printf '{"text": "Question: what is %d plus %d times %d? Answer: %d plus %d is %d, times %d is %d."}\n' $i $((i+3)) $((i+1)) $i $((i+3)) $((2*i+3)) $((i+1)) $(((2*i+3)*(i+1))) >> "$demos/math.jsonl"
  printf '{"text": "Once upon a time, in a village by the sea, lived an old fisherman number %d who told stories every evening."}\n' $i >> "$demos/prose.jsonl"
done
$J io.moeprune.cli.Main patterns build "$m" --task code="$demos/code.jsonl" --task math="$demos/math.jsonl" \
  --task prose="$demos/prose.jsonl" --demos 4 --keep "$keep" --out "$store" --quiet 2>&1 | grep -v WARNING
echo "generated the model and the store in $(( $(date +%s) - t0 )) s"
run() {  # name, then ServeLoadBench's mode options
  local name=$1; shift
  echo "== $name"
  $JF io.moeprune.bench.ServeLoadBench "$m" --patterns "$store" "$@" --requests "$requests" --max-new-tokens "$tokens" \
    --seconds "${ROW_SECONDS:-40}" ${THREADS:+--threads $THREADS} 2>&1 | grep -v 'WARNING\|INFO\|io.helidon' | tee "$work/$name.out" | grep -v '^|'
}
run full --mode full --clients "$clients"
run patterns --mode patterns --clients "$clients"
run one --mode patterns --task code --clients "${ONE_CLIENTS:-1,32}"
echo
echo "== serve load, $(basename "$m"), keep $keep of $experts experts (K/E = $(awk -v k=$keep -v e=$experts 'BEGIN{printf "%.4f", k/e}')), $tokens new tokens a request, $(nproc) cores, $(date -u +%Y-%m-%d)"
grep -h '^| experts' "$work/full.out" | head -1; grep -h '^|---' "$work/full.out" | head -1
grep -h '^| full\|^| patterns\|^| pattern ' "$work/full.out" "$work/patterns.out" "$work/one.out"
for name in full patterns one; do
  awk -F'|' -v name=$name '$2 ~ /(full|pattern)/ { gsub(/ /, "", $3); t[$3] = $8 } END { if (t[1] > 0) printf "%s: output tokens/s at 32 clients / 1 client = %.2f (goal >= 3)\n", name, t[32] / t[1] }' "$work/$name.out"
done
for name in patterns one; do
  echo "-- $name:"; grep -h '^resident experts\|^match a prompt' "$work/$name.out"
done
awk -v k=$keep -v e=$experts '/^resident experts/ { split($0, a, "= "); split(a[2], b, " "); printf "one pattern: resident / resident layers'"'"' full experts = %.4f against K/E + 10 %% = %.4f: %s\n", b[1], k / e * 1.1, (b[1] <= k / e * 1.1 ? "met" : "NOT met") }' "$work/one.out"
# Where the 32-client rows' time goes, without the server: a batched decode step of 32 sequences against one
# sequence's, and 32 prompts prefilled one by one (the scheduler before 2026-12-07) against together (BATCHED=0: skip).
if [ "${BATCHED:-1}" = 1 ]; then
  echo; echo "== batched decode and prefill, in one process"
  $JF io.moeprune.bench.BatchedDecodeBench "$m" --batches 1,32 --prompt 12 --steps 8 --rounds 2 ${THREADS:+--threads $THREADS} 2>&1 | grep -v WARNING
fi
echo "total $(( $(date +%s) - t0 )) s"
