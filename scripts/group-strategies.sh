#!/usr/bin/env bash
# Held-out loss of the three expert-group strategies (docs/pruning.md, "Expert groups: measured") on a model with
# expert groups, with this project's own commands: calibrate on the first 8 documents of each domain's dev file,
# select easyep at each K for nogroup / balanced / easyep-mul, perplexity (mask mode) on documents FROM..TO.
# Usage: scripts/group-strategies.sh MODEL WORKDIR "java python ..." "16 8" [FROM] [TO]
# Prints one line per domain: domain full-model loss, then for each K: nogroup balanced easyep-mul.
set -euo pipefail
model=$1 work=$2 domains=$3 keeps=$4 from=${5:-9} to=${6:-40}
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
data="$(dirname "$(dirname "$model")")/data/domains"
mp="${MOEPRUNE:-$here/moeprune}"   # MOEPRUNE: another launcher (e.g. a copy while rebuilding)
mkdir -p "$work"
loss() { "$mp" perplexity "$model" --data "$1" ${2:+--mask "$2"} --json 2>/dev/null \
           | python3 -c 'import json,sys; print("%.4f" % json.load(sys.stdin)["loss"])'; }
for d in $domains; do
  "$mp" calibrate "$model" --data "$data/$d.dev.jsonl" --demos 8 --out "$work/$d.stats" >/dev/null 2>&1
  sed -n "${from},${to}p" "$data/$d.dev.jsonl" > "$work/$d.heldout.jsonl"
  line="$d $(loss "$work/$d.heldout.jsonl")"
  for k in $keeps; do
    for s in nogroup balanced easyep-mul; do
      "$mp" select "$work/$d.stats" --method easyep --keep "$k" --strategy "$s" --out "$work/$d-$k-$s.json" >/dev/null
      line="$line $(loss "$work/$d.heldout.jsonl" "$work/$d-$k-$s.json")"
    done
  done
  echo "$line"
done
