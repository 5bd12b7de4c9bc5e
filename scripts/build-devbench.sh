#!/usr/bin/env bash
# Builds .devbench/ (git-ignored) for the GPU machine, which has no Java and no network: a jlinked JDK 25 with the
# modules the runtime, the CLI and the server use (.devbench/jdk), a slim jar of target/moeprune.jar holding
# io/moeprune and only the libraries the runtime, the CLI (picocli, Jackson, progress bars) and the server (Helidon)
# need (.devbench/moeprune-slim.jar: jinjava, which loading ChatTemplate verifies against, but no
# guava, so no chat templates), and the tokenizer of the embedded
# model (.devbench/tokenizer, for serving the random benchmark models). The whole must stay under 56 MB: a device
# call carries 64 MiB in all (take models/ out of the index first, NOTES.md "The GPU machine").
# Usage: ./mvnw -B -ntp -q package -DskipTests && scripts/build-devbench.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. .mvn/jdk25.sh
jar=target/moeprune.jar
[ -f "$jar" ] || { echo "build-devbench: $jar is missing; build it first: ./mvnw -B -ntp -q package -DskipTests" >&2; exit 2; }
rm -rf .devbench
mkdir -p .devbench/tokenizer
# java.net.http: serveLoad's clients; jdk.zipfs: Helidon's metadata scan of the class path; java.sql, java.naming and
# java.management: optional uses of Jackson and Helidon.
"$JAVA_HOME/bin/jlink" --add-modules java.base,jdk.incubator.vector,jdk.unsupported,java.logging,java.sql,java.management,java.net.http,java.naming,jdk.zipfs \
  --strip-debug --no-header-files --no-man-pages --compress zip-9 --output .devbench/jdk
strip --strip-unneeded .devbench/jdk/lib/server/libjvm.so
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && unzip -q "$root/$jar" 'io/moeprune/*' 'com/fasterxml/*' 'picocli/*' 'me/tongfei/*' 'org/jline/*' \
  'io/helidon/*' 'META-INF/helidon/*' 'META-INF/services/*' 'jinjava/javax/el/*' 'com/hubspot/*')
"$JAVA_HOME/bin/jar" cf .devbench/moeprune-slim.jar -C "$tmp" .
cp models/moe-tiny-7d/tokenizer.json models/moe-tiny-7d/tokenizer_config.json .devbench/tokenizer/
kb=$(du -sk .devbench | cut -f1)
echo "built .devbench: $((kb / 1024)) MB (jdk $(du -sk .devbench/jdk | cut -f1 | awk '{print int($1/1024)}') MB, slim jar $(du -k .devbench/moeprune-slim.jar | cut -f1 | awk '{print int($1/1024)}') MB)"
if [ "$kb" -ge $((56 * 1024)) ]; then echo "build-devbench: .devbench is ${kb} KB, over the 56 MB a device call leaves" >&2; exit 1; fi
# WITH_TESTS=1: also the test classes, the JUnit jars and bench/device/RunTests (bench/device/gpu_tests.sh,
# runtime_tests.sh and amx_tests_and_bench.sh run JUnit classes there; build the test classes first:
# ./mvnw -B -ntp -q test-compile).
if [ "${WITH_TESTS:-0}" = 1 ]; then
  mkdir -p .devbench/junit .devbench/test-classes
  m2="${M2_REPO:-$HOME/.m2/repository}"
  for a in org/junit/jupiter/junit-jupiter/5.13.4 org/junit/jupiter/junit-jupiter-api/5.13.4 \
           org/junit/jupiter/junit-jupiter-engine/5.13.4 org/junit/jupiter/junit-jupiter-params/5.13.4 \
           org/junit/platform/junit-platform-commons/1.13.4 org/junit/platform/junit-platform-engine/1.13.4 \
           org/junit/platform/junit-platform-launcher/1.13.4 org/opentest4j/opentest4j/1.3.0 \
           org/apiguardian/apiguardian-api/1.1.2; do
    cp "$m2/$a/$(basename "$(dirname "$a")")-$(basename "$a").jar" .devbench/junit/
  done
  "$JAVA_HOME/bin/javac" -cp "$(ls .devbench/junit/*.jar | tr '\n' :)" -d .devbench/junit bench/device/RunTests.java
  cp -r target/test-classes/io .devbench/test-classes/
  echo "with tests: $(( $(du -sk .devbench | cut -f1) / 1024 )) MB"
fi
# PACK=1 (with WITH_TESTS=1): also .devcarry/devbench.tar.xz (~21 MB), the tests variant packed so that it and a shared
# model's tarball (~41 MB) fit one call: the JDK linked without compression (xz packs it better), the slim jar without
# Helidon (but with jinjava: loading a shared model's tokenizer loads its chat template), the test classes and JUnit.
# On the device: `mkdir -p .devbench && tar -xJf .devcarry/devbench.tar.xz -C .devbench`, with `src` and `models` out
# of the index for that call (NOTES.md; bench/device/gpu_shared_model_checks.sh does the rest).
if [ "${PACK:-0}" = 1 ]; then
  [ "${WITH_TESTS:-0}" = 1 ] || { echo "build-devbench: PACK=1 needs WITH_TESTS=1" >&2; exit 2; }
  pack="$(mktemp -d)"
  "$JAVA_HOME/bin/jlink" --add-modules java.base,jdk.incubator.vector,jdk.unsupported,java.logging,java.sql,java.management,java.net.http,java.naming,jdk.zipfs \
    --strip-debug --no-header-files --no-man-pages --output "$pack/jdk"
  strip --strip-unneeded "$pack/jdk/lib/server/libjvm.so"
  cp -r .devbench/junit .devbench/test-classes "$pack/"
  cp .devbench/moeprune-slim.jar "$pack/"
  (cd "$pack" && zip -q -d moeprune-slim.jar 'io/helidon/*' 'META-INF/helidon/*')
  mkdir -p .devcarry
  tar -cf - -C "$pack" jdk junit test-classes moeprune-slim.jar | xz -9e -T0 > .devcarry/devbench.tar.xz.part
  mv .devcarry/devbench.tar.xz.part .devcarry/devbench.tar.xz
  rm -rf "$pack"
  echo "packed .devcarry/devbench.tar.xz: $(( $(du -k .devcarry/devbench.tar.xz | cut -f1) / 1024 )) MB"
fi
