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
