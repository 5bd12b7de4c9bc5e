package io.moeprune.serve;

import io.moeprune.MoepruneException;
import io.moeprune.bench.RandomMoeModel;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.gpu.runtime.GpuGeneration;
import io.moeprune.runtime.DecodeSteps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.Sampler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The device's side of serve ({@link GpuBackend}) on {@link HostOps} and a small random model: sequences of two
 * expert sets in decoders of their own, joining and leaving slots while the others decode, each with the greedy
 * tokens of its own generation on the device; a decoder no request uses closed to make room for another expert set,
 * a request waiting while the decoders in use fill the device; slots that do not fit refused at the start, one line.
 */
class GpuBackendTest {
    private static final RandomMoeModel.Shape SHAPE = new RandomMoeModel.Shape(64, 2, 2, 1, 32, 8, 2, 32, 256);
    private static final ExpertMask FIRST = ExpertMask.of(Map.of(0, new int[]{0, 1, 2}, 1, new int[]{0, 1, 2}), 8);
    private static final ExpertMask SECOND = ExpertMask.of(Map.of(0, new int[]{3, 4, 5}, 1, new int[]{5, 6, 7}), 8);
    private static final long BOUND = 1L << 30;
    private static final int STEPS = 6, CONTEXT = 64;

    private static Sequence sequence(int[] prompt, ExpertMask mask) {
        Sequence s = new Sequence(prompt, null, STEPS, Sampler.greedy());
        s.mask = mask;
        return s;
    }

    /** The greedy tokens of the prompt generated alone on the device (a decoder of one sequence). */
    private static int[] alone(GpuGeneration gen, Model model, ExpertMask mask, int[] prompt) {
        int[] out = new int[STEPS];
        try (DecodeSteps steps = gen.open(model, mask, CONTEXT)) {
            float[] logits = steps.prefill(prompt);
            for (int i = 0; i < STEPS; i++) {
                out[i] = Sampler.argmax(logits, 0, logits.length);
                if (i + 1 < STEPS) logits = steps.decode(out[i]);
            }
        }
        return out;
    }

    /** Samples each sequence's next token into {@code tokens[i][step]} and makes it the sequence's last. */
    private static void take(List<Sequence> group, float[][] logits, int[][] tokens, List<Sequence> all) {
        for (int i = 0; i < group.size(); i++) {
            Sequence s = group.get(i);
            s.last = Sampler.argmax(logits[i], 0, logits[i].length);
            tokens[all.indexOf(s)][s.generated++] = s.last;
        }
    }

    @Test
    void sequencesOfTwoExpertSetsJoinAndLeaveSlotsWithTheirOwnTokens(@TempDir Path dir) throws Exception {
        RandomMoeModel.write(dir, SHAPE, 5, 16);
        int[][] prompts = {{5, 17, 30, 42, 99}, {7, 64, 128, 3}, {200, 201, 9, 11, 12, 13}, {1, 2}};
        ExpertMask[] masks = {FIRST, SECOND, FIRST, FIRST};
        try (Model model = Models.open(dir); HostOps ops = new HostOps(BOUND); GpuGeneration gen = new GpuGeneration(ops, BOUND);
             GpuBackend backend = new GpuBackend(model, gen, 2, CONTEXT, FIRST)) {
            List<Sequence> all = List.of(sequence(prompts[0], masks[0]), sequence(prompts[1], masks[1]),
                    sequence(prompts[2], masks[2]), sequence(prompts[3], masks[3]));
            Sequence a = all.get(0), b = all.get(1), c = all.get(2), d = all.get(3);
            int[][] tokens = new int[all.size()][STEPS];
            backend.open(a);
            backend.open(b);
            take(List.of(a), backend.prefill(List.of(a)), tokens, all);
            take(List.of(b), backend.prefill(List.of(b)), tokens, all);
            assertEquals(2, backend.decoders(), "one decoder per expert set");
            for (int i = 0; i < 2; i++) take(List.of(a), backend.decode(List.of(a)), tokens, all);
            backend.open(c);   // joins a's decoder while a decodes
            take(List.of(c), backend.prefill(List.of(c)), tokens, all);
            while (a.generated < STEPS) {
                take(List.of(a, c), backend.decode(List.of(a, c)), tokens, all);
                take(List.of(b), backend.decode(List.of(b)), tokens, all);
            }
            backend.release(a);
            backend.open(d);   // a's slot, emptied for d, while c keeps its cache
            take(List.of(d), backend.prefill(List.of(d)), tokens, all);
            while (c.generated < STEPS) take(List.of(d, c), backend.decode(List.of(d, c)), tokens, all);
            while (b.generated < STEPS) take(List.of(b), backend.decode(List.of(b)), tokens, all);
            while (d.generated < STEPS) take(List.of(d), backend.decode(List.of(d)), tokens, all);
            for (int i = 0; i < all.size(); i++) {
                assertArrayEquals(alone(gen, model, masks[i], prompts[i]), tokens[i], "sequence " + i);
            }
        }
    }

    /**
     * Greedy steps picked on the device ({@link GpuBackend#decodeGreedy}): each sequence's tokens of its own
     * generation.
     */
    @Test
    void greedyStepsPickEachSequencesOwnTokensOnTheDevice(@TempDir Path dir) throws Exception {
        RandomMoeModel.write(dir, SHAPE, 5, 16);
        int[][] prompts = {{5, 17, 30, 42, 99}, {7, 64, 128, 3}, {200, 201, 9, 11, 12, 13}};
        ExpertMask[] masks = {FIRST, SECOND, FIRST};
        try (Model model = Models.open(dir); HostOps ops = new HostOps(BOUND);
             GpuGeneration gen = new GpuGeneration(ops, BOUND);
             GpuBackend backend = new GpuBackend(model, gen, 2, CONTEXT, FIRST)) {
            List<Sequence> all = List.of(sequence(prompts[0], masks[0]), sequence(prompts[1], masks[1]),
                    sequence(prompts[2], masks[2]));
            int[][] tokens = new int[all.size()][STEPS];
            for (Sequence s : all) {
                backend.open(s);
                take(List.of(s), backend.prefill(List.of(s)), tokens, all);
            }
            List<Sequence> first = List.of(all.get(2), all.get(0)), second = List.of(all.get(1));   // slots 1, 0
            while (all.get(0).generated < STEPS) {
                for (List<Sequence> group : List.of(first, second)) {
                    int[] picked = backend.decodeGreedy(group);
                    for (int i = 0; i < group.size(); i++) {
                        Sequence s = group.get(i);
                        s.last = picked[i];
                        tokens[all.indexOf(s)][s.generated++] = s.last;
                    }
                }
            }
            for (int i = 0; i < all.size(); i++) {
                assertArrayEquals(alone(gen, model, masks[i], prompts[i]), tokens[i], "sequence " + i);
            }
        }
    }

    @Test
    void anIdleDecoderIsClosedToMakeRoomForAnotherExpertSetAndABusyOneMakesItWait(@TempDir Path dir) throws Exception {
        RandomMoeModel.write(dir, SHAPE, 5, 16);
        long one, two;
        try (Model model = Models.open(dir); HostOps ops = new HostOps(BOUND); GpuGeneration gen = new GpuGeneration(ops, BOUND);
             GpuBackend backend = new GpuBackend(model, gen, 4, CONTEXT, FIRST)) {
            one = ops.allocatedBytes();
            backend.open(sequence(new int[]{1, 2, 3}, SECOND));
            two = ops.allocatedBytes();
        }
        long bound = one + (two - one) / 2;   // the weights and one decoder, not two
        try (Model model = Models.open(dir); HostOps ops = new HostOps(bound); GpuGeneration gen = new GpuGeneration(ops, bound);
             GpuBackend backend = new GpuBackend(model, gen, 4, CONTEXT, FIRST)) {
            Sequence first = sequence(new int[]{1, 2, 3}, FIRST);
            assertTrue(backend.open(first));
            Sequence second = sequence(new int[]{4, 5, 6}, SECOND);
            assertFalse(backend.open(second), "the first expert set's decoder is in use: the request waits");
            assertEquals(1, backend.decoders());
            backend.release(first);
            assertTrue(backend.open(second));
            assertEquals(1, backend.decoders(), "the idle decoder of the first set was closed");
            backend.prefill(List.of(second));
        }
    }

    @Test
    void slotsThatDoNotFitTheDeviceAreRefusedAtTheStart(@TempDir Path dir) throws Exception {
        RandomMoeModel.write(dir, SHAPE, 5, 16);
        long bound = 8L << 20;
        try (Model model = Models.open(dir); HostOps ops = new HostOps(bound); GpuGeneration gen = new GpuGeneration(ops, bound)) {
            MoepruneException e = assertThrows(MoepruneException.class, () -> new GpuBackend(model, gen, 64, 2048, FIRST));
            assertTrue(e.getMessage().startsWith("--gpu-memory 8 MB is too small to generate on the device: "), e.getMessage());
            assertTrue(e.getMessage().contains("64 generations of 2048 positions"), e.getMessage());
            assertTrue(e.getMessage().endsWith("serve needs --max-batch 64 caches of --context 2048 positions per expert set "
                    + "in use: give fewer or a larger --gpu-memory"), e.getMessage());
            assertEquals(1, e.getMessage().lines().count());
        }
    }
}
