package io.moeprune.prune;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * What a pruning wrote.
 *
 * @param out            the pruned model directory
 * @param keptPerLayer   experts kept in every MoE layer (K)
 * @param originalExperts routed experts per layer before (E)
 * @param configChanges  config.json keys that changed, with their new values
 * @param shards         the safetensors files written
 * @param totalSize      tensor bytes written (the index's total_size)
 * @param inputBytes     tensor bytes of the input checkpoint
 * @param tensors        tensors written
 * @param dropped        tensors left out (dropped experts, MTP layers)
 * @param copiedFiles    non-weight files copied
 * @param skippedFiles   files left out (weights in other formats, hidden directories)
 * @param seconds        wall time
 * @param verified       the --verify outcome, null when not asked for
 */
public record PruneResult(Path out, int keptPerLayer, int originalExperts, Map<String, Integer> configChanges,
                          List<String> shards, long totalSize, long inputBytes, int tensors, int dropped,
                          List<String> copiedFiles, List<String> skippedFiles, double seconds,
                          Verification.VerifyReport verified) {
}
