package io.moeprune.eval;

import io.moeprune.model.ExpectedTensors;
import io.moeprune.model.ModelSpec;
import io.moeprune.prune.PrunedSize;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.safetensors.Checkpoint;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.OptionalLong;

/**
 * Memory the weights occupy, as tensor data bytes (safetensors headers not counted).
 *
 * @param checkpointBytes every tensor of the checkpoint
 * @param usedBytes       the tensors the causal LM uses: without multi-token-prediction layers, rotary
 *                        {@code inv_freq} buffers and an LM head stored beside tied embeddings
 * @param keptBytes       with a mask: the bytes a checkpoint pruned to the kept experts would hold (kept experts,
 *                        sliced routers, every non-expert weight), as {@code moeprune prune} would write it; else null
 */
public record WeightMemory(long checkpointBytes, long usedBytes, Long keptBytes) {

    public static WeightMemory of(ModelSpec spec, Checkpoint checkpoint, ExpertMask mask) {
        long all = 0, used = 0;
        for (String name : checkpoint.names()) {
            long b = checkpoint.info(name).byteSize();
            all += b;
            if (ExpectedTensors.ignoredReason(spec, name) == null) used += b;
        }
        Long kept = null;
        if (mask != null && !mask.isEmpty()) {
            List<Integer> layers = spec.moeLayers();
            int[][] ids = new int[layers.size()][];
            for (int i = 0; i < ids.length; i++) ids[i] = keptIds(mask.kept(layers.get(i)), spec.moe().numExperts());
            kept = PrunedSize.bytes(spec, checkpoint, layers, ids);
        }
        return new WeightMemory(all, used, kept);
    }

    private static int[] keptIds(boolean[] kept, int numExperts) {
        if (kept == null) return java.util.stream.IntStream.range(0, numExperts).toArray();
        return java.util.stream.IntStream.range(0, numExperts).filter(e -> kept[e]).toArray();
    }

    /** The process's resident set (VmRSS of /proc/self/status), when the system reports it. */
    public static OptionalLong residentBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmRSS:")) {
                    String[] parts = line.substring(6).trim().split("\\s+");
                    return OptionalLong.of(Long.parseLong(parts[0]) * 1024);
                }
            }
        } catch (IOException | RuntimeException e) {
            // Not Linux, or an unexpected format: the figure is optional.
        }
        return OptionalLong.empty();
    }
}
