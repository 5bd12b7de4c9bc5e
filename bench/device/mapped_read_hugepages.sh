#!/usr/bin/env bash
# why does the mapped checkpoint read slower than anonymous memory (NOTES.md lead 1)? Streams the 1.9 B
# model's largest shard, a cp of it, a file written by head, and a tmpfs copy, each mapped plainly, 2 MiB-aligned,
# and with madvise advice, and prints each mapping's smaps huge-page figures. Carry .devbench.
set -u
J=".devbench/jdk/bin/java --add-modules jdk.incubator.vector --enable-native-access=ALL-UNNAMED -XX:+UseParallelGC -cp .devbench/moeprune-slim.jar"
date -u; uname -r; nproc
for f in enabled defrag shmem_enabled; do echo "thp $f: $(cat /sys/kernel/mm/transparent_hugepage/$f)"; done
ls /sys/kernel/mm/transparent_hugepage/ | tr '\n' ' '; echo
for d in /sys/kernel/mm/transparent_hugepage/hugepages-*; do echo "$d: $(cat $d/enabled 2>/dev/null)"; done
df -T /tmp . /dev/shm; free -g
big=/tmp/qwen3moe-1.9b
$J io.moeprune.bench.RuntimeBench --generate $big 2>&1 | grep -v WARNING
ls -la $big
s=$(ls -S $big/*.safetensors | head -1)
T=${T:-16}
run() { echo "== $*"; $J io.moeprune.bench.MappedReadBench "$@" --threads $T 2>&1 | grep -v WARNING; }
run $s
run $s --aligned
run $s --advise hugepage,collapse
cp $s /tmp/copy.bin; run /tmp/copy.bin
head -c 2G /dev/zero > /tmp/zeros.bin; run /tmp/zeros.bin; run /tmp/zeros.bin --aligned
cp $s /dev/shm/shm.bin && run /dev/shm/shm.bin --aligned --advise hugepage && run /dev/shm/shm.bin
rm -f /dev/shm/shm.bin
run $s
echo "== decode-heavy threads $T"
$J io.moeprune.bench.RuntimeBench $big --threads $T --prompt 8 --decode 128 --runs 2 2>&1 | grep -E '^(decode|measured)'
