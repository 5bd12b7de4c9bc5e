#!/usr/bin/env bash
# One device call: `prune` against `cp` of the kept bytes on the GPU machine (16 cores, 128 GiB: input and outputs
# stay in the page cache). Random Qwen3-MoE models of 1.9 B and 3.7 B parameters, half the experts kept; prune
# with its defaults (shards as large as the input's, written side by side) through the slim jar (no launcher, so
# no AOT cache: the launcher's cache saves about 0.2 s more), cp -r of a directory holding exactly the kept bytes
# (one file) + config.json. Pairs alternate prune, cp; one warm-up pair first. Carry .devbench.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector -XX:+UseParallelGC -XX:TieredStopAtLevel=1 -cp .devbench/moeprune-slim.jar"
nproc; free -g | head -2; df -h /tmp | tail -1; date -u
now() { date +%s.%N; }
mask() {  # model dir -> mask with every other expert of every layer
  python3 - "$1" > "$1.mask.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1] + "/config.json"))
e, layers = c.get("num_experts") or c["num_local_experts"], c["num_hidden_layers"]
keep = list(range(0, e, 2))
print(json.dumps({"format": "moeprune-expert-mask", "version": 1,
  "model": {"fingerprint": "", "family": c["model_type"], "num_experts": e, "top_k": c["num_experts_per_tok"],
            "moe_layers": list(range(layers))},
  "method": "bench", "budget": "half", "domains": [], "layers": {str(l): keep for l in range(layers)}}))
PY
}
for spec in "1.9b:2048,16,16,4,128,64,8,256,32768" "3.7b:2048,32,16,4,128,64,8,256,32768"; do
  name=${spec%%:*}; m=/tmp/model-$name
  $J io.moeprune.bench.RuntimeBench --generate $m --shape ${spec#*:} 2>&1 | grep -v WARNING
  mask $m
  $J io.moeprune.cli.Main prune --json --mask=$m.mask.json --out=/tmp/kept-$name --max-shard-size=1000GB $m > /dev/null
  cat $m/* /tmp/kept-$name/* > /dev/null
  echo "== $name: $(du -sh $m | cut -f1) in $(ls $m/*.safetensors | wc -l) shards, kept $(du -sh /tmp/kept-$name | cut -f1)"
  for i in 0 1 2 3 4 5; do
    rm -rf /tmp/out-prune; sync; t0=$(now)
    $J io.moeprune.cli.Main prune --json --mask=$m.mask.json --out=/tmp/out-prune $m > /tmp/prune.json || echo FAILED
    t1=$(now); rm -rf /tmp/out-cp; sync; t2=$(now)
    cp -r /tmp/kept-$name /tmp/out-cp
    t3=$(now)
    [ $i = 0 ] && { echo "warm-up; prune wrote $(ls /tmp/out-prune/*.safetensors | wc -l) shards"; continue; }
    echo "$t0 $t1 $t2 $t3" | awk '{p=$2-$1; c=$4-$3; printf "pair: prune %.3f s, cp %.3f s, cp/prune %.2f\n", p, c, c/p}'
  done
  rm -rf /tmp/out-prune /tmp/out-cp /tmp/kept-$name
done
