package io.moeprune.gpu.runtime;

import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Sampler;

import java.util.List;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * Greedy decoding on the device ({@link GpuDecoder#decodeSlotsGreedy}) against the host's argmax of the logits path
 * ({@link GpuDecoder#decodeSlots}, Sampler.argmax), two decoders of one generation stepped with the same tokens: shared
 * by the HostOps test (GreedyDecodingTest, CI) and the CUDA one (GpuGenerationCudaTest).
 */
public final class GreedyComparison {
    private GreedyComparison() {
    }

    /** Each row's argmax of logits [rows, vocab] on the host. */
    static int[] argmaxRows(float[] logits, int rows) {
        int vocab = logits.length / rows;
        int[] ids = new int[rows];
        for (int r = 0; r < rows; r++) ids[r] = Sampler.argmax(logits, r * vocab, vocab);
        return ids;
    }

    /**
     * Prefills {@code prompts} into two decoders, then steps both {@code steps} times with the greedy decoder's tokens
     * (the last two steps over slots 2 and 0 only, when there are three or more): the greedy tokens must equal the
     * host's argmax of the other's logits each time. The tokens stepped, per step.
     */
    public static int[][] compare(GpuGeneration gen, Model model, List<int[]> prompts, int steps) {
        int n = prompts.size();
        int[][] stepped = new int[steps + 1][];
        try (GpuDecoder logits = gen.openBatch(model, ExpertMask.NONE, n, 64);
             GpuDecoder greedy = gen.openBatch(model, ExpertMask.NONE, n, 64)) {
            int[] next = new int[n];
            for (int s = 0; s < n; s++) {
                float[] l = logits.prefill(s, prompts.get(s));
                next[s] = greedy.prefillGreedy(s, prompts.get(s));
                assertEquals(Sampler.argmax(l, 0, l.length), next[s], "prefill of sequence " + s);
            }
            stepped[0] = next.clone();
            for (int t = 0; t < steps; t++) {
                if (n >= 3 && t >= steps - 2) {
                    int[] slots = {2, 0}, tokens = {next[2], next[0]};
                    int[] want = argmaxRows(logits.decodeSlots(slots, tokens), 2);
                    int[] got = greedy.decodeSlotsGreedy(slots, tokens);
                    assertArrayEquals(want, got, "step " + t + " over slots 2 and 0");
                    next[2] = got[0];
                    next[0] = got[1];
                } else {
                    int[] want = argmaxRows(logits.decodeAll(next), n);
                    next = greedy.decodeAllGreedy(next);
                    assertArrayEquals(want, next, "step " + t);
                }
                stepped[t + 1] = next.clone();
            }
        }
        return stepped;
    }
}
