#!/usr/bin/env bash
# Issue 22's GPU-against-CPU check on a trained shared model, with the test kit, in ONE device call (about 2-4 min on
# an H100): .devbench and a shared model do not fit one call's 64 MiB together, their xz tarballs do. Builds nothing:
# here, `WITH_TESTS=1 PACK=1 scripts/build-devbench.sh` wrote .devcarry/devbench.tar.xz (21 MB); put it and the model's
# tarball (`tar -cf - -C ../shared/models moe-tiny-7d | xz -6 -T2 > .devcarry/a/moe-tiny-7d.tar.xz`: 41 MB, the ds3
# one 38 MB) in one ignored folder with the demonstrations the comparison calibrates on (`tar -cf - -C ../shared/data
# domains/medical.dev.jsonl domains/python.dev.jsonl | xz -6 > .devcarry/a/domains.tar.xz`: 0.6 MB), take `models`
# and `src` out of the index (NOTES.md, "The GPU machine") and carry that folder. Usage on the device: KIT=.devcarry/a MODEL=moe-tiny-7d bash bench/device/gpu_shared_model_checks.sh
# It unpacks the kit into .devbench (and a copy into /tmp/devbench-keep, which a chained call carrying only a model's
# tarball reuses while the machine is warm), the model into /tmp/moeprune-models (a place GpuTestSupport.sharedModel searches), then runs
# CudaOpsTest (every operation against HostOps, flash attention included) unless OPS=0, and the shared-model methods:
# the pass against the CPU (logits, expert choices, statistics, masks), the small-bound chunked pass (moe-tiny-7d
# only), the resident pass against the streamed one, and token scores in a small bound. The fixtures' tests need
# src/test/resources and run with gpu_tests.sh instead.
set -u
KIT=${KIT:-.devcarry/a}
MODEL=${MODEL:-moe-tiny-7d}
date -u
mkdir -p .devbench /tmp/moeprune-models
# The kit from KIT, or (a chained call that carried only the model) the one an earlier call of this machine kept.
if [ -f "$KIT/devbench.tar.xz" ]; then
  tar -xJf "$KIT/devbench.tar.xz" -C .devbench || { echo "gpu_shared_model_checks: $KIT/devbench.tar.xz did not unpack" >&2; exit 2; }
  rm -rf /tmp/devbench-keep && cp -r .devbench /tmp/devbench-keep
elif [ -d /tmp/devbench-keep ]; then
  cp -r /tmp/devbench-keep/. .devbench/
else
  echo "gpu_shared_model_checks: no $KIT/devbench.tar.xz and no kit kept in /tmp/devbench-keep" >&2; exit 2
fi
tar -xJf "$KIT/$MODEL.tar.xz" -C /tmp/moeprune-models || { echo "gpu_shared_model_checks: $KIT/$MODEL.tar.xz did not unpack" >&2; exit 2; }
# The test bed's demonstrations the shared-model comparison calibrates on (medical and python: 0.6 MB packed).
mkdir -p /tmp/moeprune-data
[ -f "$KIT/domains.tar.xz" ] && tar -xJf "$KIT/domains.tar.xz" -C /tmp/moeprune-data
G=io.moeprune.gpu
T="$G.GpuLayerMajorPassCudaTest#matchesTheCpuOnTheSharedModels(java.lang.String)"
if [ "$MODEL" = moe-tiny-7d ]; then
  T="$T $G.GpuLayerMajorPassCudaTest#aSmallBoundRunsInChunksAndGivesTheSameLogits $G.ResidentPassCudaTest"
  T="$T $G.TokenScoresCudaTest#theSharedModelScoresAsTheCpuAlsoInASmallBound"
fi
[ "${OPS:-1}" = 1 ] && T="$G.CudaOpsTest $T"
TESTS="$T" PROBE=0 bash bench/device/gpu_tests.sh
