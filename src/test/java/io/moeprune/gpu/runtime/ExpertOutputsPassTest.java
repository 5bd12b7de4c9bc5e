package io.moeprune.gpu.runtime;

import io.moeprune.gpu.ops.ExpertOutputs;
import io.moeprune.gpu.ops.HostOps;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.Models;
import io.moeprune.runtime.PrefillPasses;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The pass with the experts' outputs in BF16 ({@code -Dmoeprune.expertOutputs=bf16}) on HostOps, which rounds them as
 * cuBLAS does: against the CPU runtime within the bounds of {@link GpuLayerMajorPassTest} (logits within 1e-2 on the
 * shared models, 3e-2 on the random fixtures; statistics within 1 %, masks identical where no routing swapped); F32
 * (the default) bit-identical to the pass before the switch; the chunk's buffers and the memory plan counting the
 * smaller rows.
 */
class ExpertOutputsPassTest {
    /**
     * A hash of the F32 pass's logits and slot norms on each fixture ({@link #hash}), recorded at 1bfe289, before the
     * switch existed.
     */
    private static final Map<String, String> BEFORE = Map.ofEntries(
            Map.entry("qwen3_moe", "cbf17fcfbd51cb09"), Map.entry("deepseek_v2", "532ba75e1e50863e"),
            Map.entry("deepseek_v3", "a706fd73cee6fb34"), Map.entry("deepseek_v3_fp8", "647356573c4fab08"),
            Map.entry("gpt_oss", "7e738c17e3a728c6"), Map.entry("gpt_oss_mxfp4", "da611aabae635874"),
            Map.entry("granitemoe", "57fe0b5c73c6053"), Map.entry("mixtral", "f1a1af1bddb81a2d"),
            Map.entry("olmoe", "3769dbecc87abe1f"), Map.entry("qwen2_moe", "9e1a8e79e52c8973"),
            Map.entry("qwen3_moe_f32", "d4b77e483943c86c"));

    private static PrefillPasses.Factory bf16(HostOps ops) {
        return (model, mask, logits) -> new GpuLayerMajorPass(model, mask, logits, ops, 1L << 30)
                .expertOutputs(ExpertOutputs.BF16);
    }

    /** Whether the fixture's experts add biases (gpt-oss): their rows stay F32. */
    private static boolean downBiases(String fixture) {
        return fixture.startsWith("gpt_oss");
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("io.moeprune.runtime.ConformanceFixtures#all")
    void f32IsBitIdenticalToThePassBeforeAndBf16MovesOnlyWithoutDownBiases(String fixture) {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve(fixture));
             HostOps ops = new HostOps(1L << 30)) {
            assertEquals(BEFORE.get(fixture), hash(model, ops, ExpertOutputs.F32), fixture + " f32");
            String bf16 = hash(model, ops, ExpertOutputs.BF16);
            if (downBiases(fixture)) assertEquals(BEFORE.get(fixture), bf16, fixture + " keeps F32 rows");
            // deepseek_v3_fp8's expert weights are scaled by ~1e-22: their outputs underflow to 0 in both types.
            else if (!fixture.equals("deepseek_v3_fp8")) {
                assertNotEquals(BEFORE.get(fixture), bf16, fixture + " bf16 rows round");
            }
        }
    }

    @ParameterizedTest(name = "{0}")
    @MethodSource("io.moeprune.runtime.ConformanceFixtures#all")
    void bf16MatchesTheCpuOnConformanceFamilies(String fixture) {
        PassComparison.onFixture(fixture, (model, ops, seqs) -> {
            PassComparison.Result r = PassComparison.compare(model, seqs, bf16(ops));
            System.out.println(fixture + " bf16: " + r);
            PassComparison.assertBounds(fixture + " bf16", r, 3e-2);
        });
    }

    @ParameterizedTest(name = "{0}")
    @ValueSource(strings = {"moe-tiny-7d", "moe-tiny-7d-ds3"})
    void bf16MatchesTheCpuOnTheSharedModels(String name) throws IOException {
        Path dir = GpuLayerMajorPassTest.SHARED.resolve(name);
        Assumptions.assumeTrue(Files.isDirectory(dir) && Files.isDirectory(GpuLayerMajorPassTest.DATA),
                "shared test bed absent: " + dir);
        try (Model model = Models.open(dir); HostOps ops = new HostOps(1L << 30)) {
            List<int[]> seqs = PassComparison.documentSequences(dir,
                    GpuLayerMajorPassTest.DATA.resolve("medical.dev.jsonl"), 3, 40);
            PassComparison.Result r = PassComparison.compare(model, seqs, bf16(ops));
            System.out.println(name + " bf16: " + r);
            PassComparison.assertBounds(name + " bf16", r, 1e-2);
        }
    }

    @Test
    void bf16RowsAreHalfTheBytesAllocatedAndPlannedSoChunksGrow() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("qwen3_moe"));
             HostOps ops = new HostOps(1L << 30)) {
            List<LayerPlan> plans = LayerPlan.of(model);
            ChunkBuffers.Widths f32 = ChunkBuffers.Widths.of(model.spec(), plans, ExpertOutputs.F32);
            ChunkBuffers.Widths bf16 = ChunkBuffers.Widths.of(model.spec(), plans, ExpertOutputs.BF16);
            long k = model.spec().moe().topK(), h = model.spec().hiddenSize();
            assertEquals(ExpertOutputs.BF16, bf16.expertOutputs());
            // Two bytes an element less on the down rows [k, H]; the [gate | up] buffer stays as wide, since the
            // dense layer's F32 [gate | up] (2·96 floats) is wider than the experts' either way (2·2·32 elements).
            long saved = 2 * k * h;
            assertEquals(saved, f32.bytesPerToken() - bf16.bytesPerToken());
            assertEquals(4L * 2 * 96, bf16.gateUpBytes());
            // What the buffers really take: the plan's difference, per token (chunk sizes keep rounding out of it).
            int tokens = 64;
            long f32Bytes = allocated(ops, f32, tokens), bf16Bytes = allocated(ops, bf16, tokens);
            assertEquals(tokens * saved, f32Bytes - bf16Bytes);
            assertTrue(f32Bytes <= tokens * f32.bytesPerToken() + MemoryPlan.ROUNDING * ChunkBuffers.BUFFERS,
                    "the plan covers the F32 buffers");
            assertTrue(bf16Bytes <= tokens * bf16.bytesPerToken() + MemoryPlan.ROUNDING * ChunkBuffers.BUFFERS,
                    "the plan covers the BF16 buffers");
            // Under a tight bound (a chunk of 17 tokens with F32 rows, the residuals of 1,000 tokens on the host)
            // BF16 rows plan longer chunks: 17 × (F32 bytes a token) / (BF16 bytes a token), rounded down.
            long slot = WeightStream.slotBytes(plans), bound = WeightScheduleTest.chunkingBound(model);
            int hidden = model.spec().hiddenSize();
            long held = WeightScheduleTest.productsBytes(model);   // what the pass holds when it plans
            MemoryPlan a = MemoryPlan.of(bound - held, slot, f32.bytesPerToken(), ChunkBuffers.BUFFERS, 1000, 17,
                    hidden, bound, held);
            MemoryPlan b = MemoryPlan.of(bound - held, slot, bf16.bytesPerToken(), ChunkBuffers.BUFFERS, 1000, 17,
                    hidden, bound, held);
            assertFalse(a.residentResiduals());
            assertFalse(b.residentResiduals());
            assertEquals(17, a.chunkTokens());
            long rowBytes = 4L * hidden;
            assertEquals(17 * (f32.bytesPerToken() + rowBytes) / (bf16.bytesPerToken() + rowBytes), b.chunkTokens());
            assertTrue(b.chunkTokens() > a.chunkTokens(), b + " vs " + a);
        }
    }

    @Test
    void bf16GateUpRowsShrinkTheBufferWhereTheExpertsAreTheWidest() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("mixtral"))) {
            List<LayerPlan> plans = LayerPlan.of(model);
            ChunkBuffers.Widths f32 = ChunkBuffers.Widths.of(model.spec(), plans, ExpertOutputs.F32);
            ChunkBuffers.Widths bf16 = ChunkBuffers.Widths.of(model.spec(), plans, ExpertOutputs.BF16);
            long k = model.spec().moe().topK(), h = model.spec().hiddenSize();
            long inter = ((LayerPlan.Moe) plans.getFirst().feedForward()).experts()[0].intermediate();
            assertEquals(4 * k * 2 * inter, f32.gateUpBytes());
            assertEquals(2 * k * 2 * inter, bf16.gateUpBytes());
            assertEquals(2 * k * h + 2 * k * 2 * inter, f32.bytesPerToken() - bf16.bytesPerToken());
        }
    }

    @Test
    void expertBiasesKeepF32Rows() {
        try (Model model = Models.open(GpuLayerMajorPassTest.FIXTURES.resolve("gpt_oss"))) {
            ChunkBuffers.Widths w = ChunkBuffers.Widths.of(model.spec(), LayerPlan.of(model), ExpertOutputs.BF16);
            assertEquals(ExpertOutputs.F32, w.expertOutputs());
        }
    }

    /** Bytes a chunk's buffers of {@code tokens} tokens hold on {@code ops} (residuals resident: no x rows). */
    private static long allocated(HostOps ops, ChunkBuffers.Widths w, int tokens) {
        long before = ops.allocatedBytes();
        try (ChunkBuffers b = new ChunkBuffers(ops, w, tokens, true)) {
            return ops.allocatedBytes() - before;
        }
    }

    /** {@link PassComparison#hash} of the pass with the experts' outputs in {@code outputs}. */
    private static String hash(Model model, HostOps ops, ExpertOutputs outputs) {
        List<int[]> seqs = PassComparison.randomSequences(model.spec().vocabSize(), 9, 1, 0, 17, 5);
        return PassComparison.hash(new GpuLayerMajorPass(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL, ops,
                1L << 30).expertOutputs(outputs), seqs);
    }
}
