#!/usr/bin/env bash
# Runs the reference oracle on the GPU machine and packs the results into $OUT.
# Carry .devcarry (a copy of ../shared/models/moe-tiny-7d and the gzipped domain files).
set -u
export PYTHONUNBUFFERED=1
work=/tmp/fixtures
rm -rf "$work"; mkdir -p "$work"
python3 -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__, "cuda", torch.cuda.is_available())'
python3 conformance/generate_fixtures.py "$work" "$@" 2>&1 | tee "$OUT/generate.log"
tar -C "$work" -czf "$OUT/fixtures.tar.gz" .
if [ -d .devcarry/moe-tiny-7d ] && [ -z "${SKIP_PPL:-}" ]; then
  python3 conformance/reference_perplexity.py .devcarry/moe-tiny-7d .devcarry/domains "$OUT/moe-tiny-7d.ppl512.json" 512 2>&1 | tee "$OUT/ppl.log"
fi
ls -la "$OUT"
