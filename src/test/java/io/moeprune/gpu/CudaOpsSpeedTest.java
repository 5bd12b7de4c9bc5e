package io.moeprune.gpu;

import io.moeprune.bench.RandomMoeModel;
import io.moeprune.gpu.cuda.Cudart;
import io.moeprune.gpu.ops.CudaOps;
import io.moeprune.gpu.ops.ExpertOutputs;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The speed table of the GPU operations, timed with CUDA events on the compute stream (the median of 5 runs after
 * one warm-up): cuBLAS's BF16 product at 8192³ (the reference for issue 22's "60 % of the cuBLAS BF16 peak measured
 * in the same run"), the experts' products on each path of {@link CudaOps.GroupedPath} (Qwen3-30B-A3B's
 * 128 × [1536, 2048] and [2048, 768] at 128 and 1024 rows each, DeepSeek-V3's 256 × [4096, 7168] at 128 and 512,
 * the random 1.9 B benchmark model's at a 16384-token chunk, uneven rows, and a decode step's 256 slots over 128
 * experts,
 * 0-6 rows each), and prefill attention on its three paths (warp kernel, tensor cores, flash; one line a shape) at the
 * random 1.9 B model's heads (16 of 128, 4 kv heads; 8 x 2048 and 2 x 8192 tokens), Qwen3-30B-A3B's (32 / 4) and
 * DeepSeek-V3's MLA (128 heads of qk 192, v 128); flash in blocks of 64 and of 128 query rows; a MoE block's
 * epilogue at the 1.9 B model's chunk, its unfused passes against the fused kernel ({@link #moeEpilogueTable});
 * the fused attention epilogue's cuts against what they replace ({@link #attentionEpilogueSpeed}).
 * Inputs are left as allocated (the time does not depend on the values). Skips without CUDA.
 */
class CudaOpsSpeedTest {
    private static CudaOps ops;

    @BeforeAll
    static void open() {
        ops = new CudaOps(GpuTestSupport.openOrSkip(40L << 30));
    }

    @AfterAll
    static void close() {
        if (ops != null) ops.close();
    }

    /** Milliseconds of one run of {@code work}: the median of 5 after a warm-up. */
    private static double millis(Runnable work) {
        Cudart rt = ops.device().runtime();
        long start = rt.eventCreate(), end = rt.eventCreate();
        try {
            work.run();
            List<Float> times = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                rt.eventRecord(start, ops.device().stream());
                work.run();
                rt.eventRecord(end, ops.device().stream());
                rt.eventSynchronize(end);
                times.add(rt.elapsedMillis(start, end));
            }
            times.sort(null);
            return times.get(2);
        } finally {
            rt.eventDestroy(start);
            rt.eventDestroy(end);
        }
    }

    private static void row(String what, double ms, double flops, double peakTflops) {
        double tflops = flops / ms / 1e9;
        System.out.printf("%-118s %9.3f ms %8.1f TFLOP/s%s%n", what, ms, tflops,
                peakTflops > 0 ? String.format(" (%.0f %% of the 8192³ product)", 100 * tflops / peakTflops) : "");
    }

    @Test
    void speedTable() {
        System.out.println("GPU operations, " + ops.device().info().describe());
        // cuBLAS BF16 → F32 at 8192³
        int s = 8192;
        DeviceBuffer w = ops.alloc(2L * s * s, "W"), x = ops.alloc(2L * s * s, "x"), y = ops.alloc(4L * s * s, "y");
        ops.zero(w, 0, w.bytes());
        ops.zero(x, 0, x.bytes());
        double peakMs = millis(() -> ops.linear(s, s, s, w, 0, x, 0, y, 0, s, false));
        double peak = 2.0 * s * s * s / peakMs / 1e9;
        row("cuBLAS BF16 linear 8192x8192x8192", peakMs, 2.0 * s * s * s, 0);
        ops.free(w);
        ops.free(x);
        ops.free(y);

        // The experts' products on every path: Qwen3-30B-A3B's [gate | up] and down, DeepSeek-V3's [gate | up], the
        // random 1.9 B benchmark model's (bench RuntimeBench --generate) at a 16384-token chunk, and uneven rows.
        grouped("Qwen3-30B-A3B gate+up", 128, 1536, 2048, even(128, 128), peak);
        grouped("Qwen3-30B-A3B gate+up", 128, 1536, 2048, even(128, 1024), peak);
        grouped("Qwen3-30B-A3B down", 128, 2048, 768, even(128, 128), peak);
        grouped("Qwen3-30B-A3B down", 128, 2048, 768, even(128, 1024), peak);
        grouped("DeepSeek-V3 gate+up", 256, 4096, 7168, even(256, 128), peak);
        grouped("DeepSeek-V3 gate+up", 256, 4096, 7168, even(256, 512), peak);
        RandomMoeModel.Shape random = RandomMoeModel.Shape.DEFAULT;
        int randomRows = 16384 * random.topK() / random.experts();
        grouped("random 1.9B gate+up", random.experts(), 2 * random.moeIntermediate(), random.hidden(),
                even(random.experts(), randomRows), peak);
        grouped("random 1.9B down", random.experts(), random.hidden(), random.moeIntermediate(),
                even(random.experts(), randomRows), peak);
        // Uneven rows, the batched path with and without its early calls (fewer rows copied out, more calls); the
        // down product's outputs are wider than its inputs: where the copy-out weighs most.
        for (boolean early : new boolean[]{true, false}) {
            ops.batchedEarlyCalls(early);
            String calls = early ? "" : " one call a bucket";
            grouped("Qwen3-30B-A3B gate+up uneven" + calls, 128, 1536, 2048, uneven(128, 128), peak);
            grouped("Qwen3-30B-A3B gate+up uneven" + calls, 128, 1536, 2048, uneven(128, 1024), peak);
            grouped("Qwen3-30B-A3B down uneven" + calls, 128, 2048, 768, uneven(128, 1024), peak);
        }
        ops.batchedEarlyCalls(true);
        // Decoding: a step of 32 sequences routes 256 slots over 128 experts, 0-6 rows each (where the gemv kernel
        // runs: one launch for every expert, against cuBLAS's paths' up to a launch an expert).
        grouped("Qwen3-30B-A3B gate+up decode 32 sequences", 128, 1536, 2048, decodeRows(128, 256, 6), peak);
        grouped("Qwen3-30B-A3B down decode 32 sequences", 128, 2048, 768, decodeRows(128, 256, 6), peak);

        // Prefill attention on the three paths, one line a shape: the random 1.9 B benchmark model's heads (16 of 128,
        // 4 kv heads) at its 8 sequences of 2048 tokens and at 2 of 8192 (longer: the largest the tensor-core path's
        // scratch still takes), Qwen3-30B-A3B's (32 / 4) and DeepSeek-V3's expanded MLA (128 heads, qk 192, v 128).
        attention(8, 2048, 16, 4, 128, 128, peak);
        attention(2, 8192, 16, 4, 128, 128, peak);
        attention(8, 2048, 32, 4, 128, 128, peak);
        attention(8, 2048, 128, 128, 192, 128, peak);
        assertTrue(peak > 0);
    }

    /**
     * A MoE block's epilogue at the random 1.9 B model's chunk (16,384 tokens, hidden 2048, top-8): the unfused passes
     * (combineSlots, then for a watched chunk slotNorms and turns, addScaled, nonFinite) against moeEpilogue
     * (-Dmoeprune.fusedEpilogue) on each kernel of -Dmoeprune.epilogueKernel (scalar, vector), F32 and BF16 expert
     * rows, watched or not; milliseconds, the bytes each moves over its time and the unfused time over the fused one.
     * Slot rows a shuffled permutation (the grouped order scatters a token's slots), values zero.
     */
    @Test
    void moeEpilogueTable() {
        RandomMoeModel.Shape shape = RandomMoeModel.Shape.DEFAULT;
        int n = 16384, k = shape.topK(), h = shape.hidden(), slots = n * k;
        long count = (long) n * h;
        int[] perm = new int[slots];
        for (int i = 0; i < slots; i++) perm[i] = i;
        java.util.Random r = new java.util.Random(22);
        for (int i = slots - 1; i > 0; i--) {
            int j = r.nextInt(i + 1), t = perm[i];
            perm[i] = perm[j];
            perm[j] = t;
        }
        DeviceBuffer slotRow = ops.alloc(4L * slots, "slot rows"), weight = ops.alloc(4L * slots, "weights");
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            ops.upload(a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_INT, perm), slotRow, 0);
        }
        DeviceBuffer rows = ops.alloc(4L * slots * h, "expert rows"), x = ops.alloc(4 * count, "x");
        DeviceBuffer branch = ops.alloc(4 * count, "branch"), norms = ops.alloc(4L * slots, "norms");
        DeviceBuffer turns = ops.alloc(4L * n, "turns"), flags = ops.alloc(4, "flag");
        for (DeviceBuffer b : new DeviceBuffer[]{weight, rows, x, branch, flags}) ops.zero(b, 0, b.bytes());
        for (ExpertOutputs type : ExpertOutputs.values()) {
            for (boolean watched : new boolean[]{false, true}) {
                String what = "MoE epilogue " + n + "x" + h + " top-" + k + " " + type + (watched ? " watched" : "");
                long rowBytes = (long) type.bytes() * slots * h, f = 4 * count;
                double unfused = millis(() -> {
                    ops.combineSlots(rows, slotRow, weight, branch, n, k, h, type);
                    if (watched) {
                        ops.slotNorms(rows, slotRow, norms, slots, h, type);
                        ops.turns(x, branch, turns, n, h);
                    }
                    ops.addScaled(x, 0, branch, 0, count, 1f);
                    ops.nonFinite(x, 0, count, flags, 0);
                });
                long unfusedBytes = rowBytes * (watched ? 2 : 1) + f + (watched ? 2 * f : 0) + 3 * f + f;
                long fusedBytes = rowBytes + 2 * f;
                StringBuilder line = new StringBuilder(String.format("%-62s unfused %7.3f ms (%5.0f GB/s)", what,
                        unfused, unfusedBytes / unfused / 1e6));
                for (CudaOps.EpilogueKernel kernel : CudaOps.EpilogueKernel.values()) {
                    ops.epilogueKernel(kernel);
                    double fused = millis(() -> ops.moeEpilogue(rows, slotRow, weight, n, k, h, type, null, x, 1f,
                            watched ? norms : null, watched ? turns : null, flags, 0, branch));
                    line.append(String.format("  %s %7.3f ms (%5.0f GB/s) %.2fx", kernel.name().toLowerCase(
                            java.util.Locale.ROOT), fused, fusedBytes / fused / 1e6, unfused / fused));
                }
                System.out.println(line);
            }
        }
        ops.epilogueKernel(CudaOps.EpilogueKernel.SCALAR);
        for (DeviceBuffer b : new DeviceBuffer[]{slotRow, weight, rows, x, branch, norms, turns, flags}) ops.free(b);
    }

    /**
     * The fused attention epilogue's three cuts ({@code -Dmoeprune.fusedAttentionEpilogue}) each against what it
     * replaces, timed in the same process at a chunk of 8 × 2048 tokens with the random 1.9 B model's heads (16 / 4 of
     * 128, hidden 2048) and Qwen3-30B-A3B's (32 / 4): the per-head q/k norms then the rope (four launches) against
     * {@code rms_norm_heads_rope} (two); the flash kernel's F32 rows then toBf16 against its BF16 rows; o_proj into a
     * branch then addScaled against o_proj accumulated into the residual. One line each: both times and the ratio.
     */
    @Test
    void attentionEpilogueSpeed() {
        System.out.println("GPU operations, " + ops.device().info().describe());
        for (int[] h : new int[][]{{16, 4}, {32, 4}}) {
            int sequences = 8, length = 2048, tokens = sequences * length, hidden = 2048, dim = 128;
            int heads = h[0], kvHeads = h[1], qw = heads * dim, kw = kvHeads * dim, row = qw + 2 * kw;
            long kAt = 4L * qw, vAt = 4L * (qw + kw), count = (long) tokens * qw;
            List<DeviceBuffer> held = new ArrayList<>();
            java.util.function.BiFunction<Long, String, DeviceBuffer> alloc = (bytes, what) -> {
                DeviceBuffer b = ops.alloc(bytes, what);
                ops.zero(b, 0, bytes);   // zeros: finite rows whatever runs first (norms of zeros stay zeros)
                held.add(b);
                return b;
            };
            DeviceBuffer qkv = alloc.apply(4L * tokens * row, "q|k|v"), weight = alloc.apply(4L * dim, "norm");
            DeviceBuffer positions = alloc.apply(4L * tokens, "positions"), starts = alloc.apply(4L * (sequences + 1),
                    "starts"), invFreq = alloc.apply(4L * dim / 2, "inverse frequencies");
            DeviceBuffer out = alloc.apply(4 * count, "attention"), outBf16 = alloc.apply(2 * count, "attention BF16");
            DeviceBuffer wo = alloc.apply(2L * hidden * qw, "o_proj"), x = alloc.apply(4L * tokens * hidden, "x");
            DeviceBuffer branch = alloc.apply(4L * tokens * hidden, "branch");
            try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
                int[] pos = new int[tokens], st = new int[sequences + 1];
                float[] inv = new float[dim / 2];
                for (int t = 0; t < tokens; t++) pos[t] = t % length;
                for (int s = 0; s <= sequences; s++) st[s] = s * length;
                for (int i = 0; i < inv.length; i++) inv[i] = (float) Math.pow(1_000_000, -2.0 * i / dim);
                ops.upload(a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_INT, pos), positions, 0);
                ops.upload(a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_INT, st), starts, 0);
                ops.upload(a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_FLOAT, inv), invFreq, 0);
            }
            String shape = " " + sequences + "x" + length + " " + heads + "/" + kvHeads + " heads of " + dim;
            epilogueRow("attention epilogue: q/k norms, rope" + shape, millis(() -> {
                ops.rmsNormHeads(qkv, 0, tokens, heads, dim, row, weight, 1e-6f);
                ops.rmsNormHeads(qkv, kAt, tokens, kvHeads, dim, row, weight, 1e-6f);
                ops.rope(qkv, 0, tokens, row, heads, dim, 0, dim, positions, invFreq, 1f, false);
                ops.rope(qkv, kAt, tokens, row, kvHeads, dim, 0, dim, positions, invFreq, 1f, false);
            }), millis(() -> {
                ops.rmsNormHeadsRope(qkv, 0, tokens, heads, dim, row, weight, 1e-6f, positions, invFreq, dim, 1f,
                        false);
                ops.rmsNormHeadsRope(qkv, kAt, tokens, kvHeads, dim, row, weight, 1e-6f, positions, invFreq, dim, 1f,
                        false);
            }));
            float scale = (float) (1 / Math.sqrt(dim));
            epilogueRow("attention epilogue: flash rows, toBf16" + shape, millis(() -> {
                ops.attention(qkv, 0, row, qkv, kAt, row, qkv, vAt, row, out, starts, sequences, tokens, heads,
                        kvHeads, dim, dim, scale, 0, null);
                ops.toBf16(out, outBf16, count);
            }), millis(() -> ops.attentionBf16(qkv, 0, row, qkv, kAt, row, qkv, vAt, row, out, outBf16, starts,
                    sequences, tokens, heads, kvHeads, dim, dim, scale, 0, null)));
            epilogueRow("attention epilogue: o_proj, residual add" + shape, millis(() -> {
                ops.linear(tokens, hidden, qw, wo, 0, outBf16, 0, branch, 0, hidden, false);
                ops.addScaled(x, 0, branch, 0, (long) tokens * hidden, 1f);
            }), millis(() -> ops.linear(tokens, hidden, qw, wo, 0, outBf16, 0, x, 0, hidden, true)));
            held.forEach(ops::free);
        }
    }

    private static void epilogueRow(String what, double unfusedMs, double fusedMs) {
        System.out.printf("%-90s unfused %8.3f ms, fused %8.3f ms: %.2fx%n", what, unfusedMs, fusedMs,
                unfusedMs / fusedMs);
    }

    /**
     * One attention shape on the warp, tensor-core and flash paths (flash with K and V as F32 and as BF16, 64- and
     * 128-row blocks): milliseconds and TFLOP/s of each on one line (and
 * flash's speed-up on tensor cores and share of the cuBLAS peak),
     * the FLOPs counted on the causal work (2·L²/2·heads·(qk + v) a sequence: the two products' lower triangles).
     */
    private static void attention(int sequences, int length, int heads, int kvHeads, int qkDim, int vDim,
                                  double peak) {
        int tokens = sequences * length;
        DeviceBuffer q = ops.alloc(4L * tokens * heads * qkDim, "q"), k = ops.alloc(4L * tokens * kvHeads * qkDim, "k"),
                v = ops.alloc(4L * tokens * kvHeads * vDim, "v"), out = ops.alloc(4L * tokens * heads * vDim, "out"),
                starts = ops.alloc(4L * (sequences + 1), "starts");
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            int[] st = new int[sequences + 1];
            for (int i = 0; i <= sequences; i++) st[i] = i * length;
            ops.upload(a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_INT, st), starts, 0);
        }
        ops.zero(q, 0, q.bytes());
        ops.zero(k, 0, k.bytes());
        ops.zero(v, 0, v.bytes());
        double flops = 2.0 * sequences * (double) length * length / 2 * heads * (qkDim + vDim);
        StringBuilder line = new StringBuilder(String.format("attention %d x %d, %d/%d heads qk %d v %d:", sequences,
                length, heads, kvHeads, qkDim, vDim));
        double tensorMs = 0;
        try {
            // warp, tensor, flash in 64-row blocks, flash in 128-row blocks; then flash on BF16 K and V (the bf16
            // variant, its conversion included) in 64- and 128-row blocks
            for (int run = 0; run < 6; run++) {
                CudaOps.AttentionPath path = run < 2 ? (run == 0 ? CudaOps.AttentionPath.WARP
                        : CudaOps.AttentionPath.TENSOR) : CudaOps.AttentionPath.FLASH;
                int flashRows = run % 2 == 1 && run > 1 ? 128 : 64;
                CudaOps.FlashKv kv = run >= 4 ? CudaOps.FlashKv.BF16 : CudaOps.FlashKv.F32;
                ops.attentionPath(path);
                ops.flashRows(flashRows);
                ops.flashKv(kv);
                double ms = millis(() -> ops.attention(q, 0, heads * qkDim, k, 0, kvHeads * qkDim, v, 0,
                        kvHeads * vDim, out, starts, sequences, tokens, heads, kvHeads, qkDim, vDim, 0.088f, 0, null));
                String label = path.name().toLowerCase() + (path == CudaOps.AttentionPath.FLASH
                        ? " " + flashRows + (kv == CudaOps.FlashKv.BF16 ? " bf16kv" : "") : "");
                line.append(String.format(" %s %.3f ms %.1f TFLOP/s", label, ms, flops / ms / 1e9));
                if (path == CudaOps.AttentionPath.TENSOR) tensorMs = ms;
                if (path == CudaOps.AttentionPath.FLASH) {
                    line.append(String.format(" (%.2fx tensor, %.0f %% of the 8192³ product)", tensorMs / ms,
                            100 * flops / ms / 1e9 / peak));
                }
                line.append(';');
            }
        } finally {
            ops.attentionPath(CudaOps.AttentionPath.AUTO);
            ops.flashRows(CudaOps.DEFAULT_FLASH_ROWS);
            ops.flashKv(CudaOps.DEFAULT_FLASH_KV);
            for (DeviceBuffer b : new DeviceBuffer[]{q, k, v, out, starts}) ops.free(b);
        }
        System.out.println(line);
    }

    private static int[] even(int experts, int rows) {
        int[] n = new int[experts];
        java.util.Arrays.fill(n, rows);
        return n;
    }

    /** Rows drawn from 0.5x-1.5x of {@code mean}, every 16th expert empty (fixed seed). */
    private static int[] uneven(int experts, int mean) {
        java.util.Random r = new java.util.Random(22);
        int[] n = new int[experts];
        for (int e = 0; e < experts; e++) n[e] = e % 16 == 7 ? 0 : mean / 2 + r.nextInt(mean + 1);
        return n;
    }

    /** {@code slots} rows spread at random over {@code experts}, at most {@code most} each (fixed seed). */
    private static int[] decodeRows(int experts, int slots, int most) {
        java.util.Random r = new java.util.Random(22);
        int[] n = new int[experts];
        for (int s = 0; s < slots; s++) {
            int e;
            do {
                e = r.nextInt(experts);
            } while (n[e] == most);
            n[e]++;
        }
        return n;
    }

    /**
     * The experts' products of one shape on each path (batched, grouped, grouped with BF16 outputs, the gemv kernel
     * where every expert has at most its 8 rows, one per expert), one {@code grouped ...} line each: TFLOP/s count the
     * useful rows only, the path is what ran.
     */
    private static void grouped(String what, int experts, int out, int in, int[] rows, double peak) {
        long total = 0;
        int most = 0;
        for (int r : rows) {
            total += r;
            most = Math.max(most, r);
        }
        DeviceBuffer w = ops.alloc(2L * experts * out * in, "expert weights"),
                x = ops.alloc(2L * total * in, "expert inputs"),
                y = ops.alloc(4L * total * out, "expert outputs");
        ops.zero(w, 0, w.bytes());
        ops.zero(x, 0, x.bytes());
        long[] wp = new long[experts], xp = new long[experts], yp = new long[experts];
        for (int e = 0, start = 0; e < experts; start += rows[e], e++) {
            wp[e] = w.address() + 2L * e * out * in;
            xp[e] = x.address() + 2L * start * in;
            yp[e] = y.address() + 4L * start * out;
        }
        String label = "grouped experts " + what + ": " + experts + " x [" + out + ", " + in + "], "
                + (most * (long) experts == total ? most + " rows" : total / experts + " rows on average");
        try {
            for (CudaOps.GroupedPath path : new CudaOps.GroupedPath[]{CudaOps.GroupedPath.BATCHED,
                    CudaOps.GroupedPath.GROUPED, CudaOps.GroupedPath.GROUPED_BF16, CudaOps.GroupedPath.GEMV,
                    CudaOps.GroupedPath.PER_EXPERT}) {
                if (path == CudaOps.GroupedPath.GEMV && most > 8) continue;   // pieces of 8 rows: slow or auto
                ops.groupedPath(path);
                double ms = millis(() -> ops.groupedLinear(rows, out, in, wp, xp, yp));
                row(label + " [" + path.switchName() + ": " + ops.groupedPath() + "]", ms, 2.0 * total * out * in,
                        peak);
            }
            if (most <= 8) routed(label, rows, out, in, w, x, y, 2.0 * total * out * in, peak);
        } finally {
            ops.groupedPath(CudaOps.GroupedPath.AUTO);
            ops.free(w);
            ops.free(x);
            ops.free(y);
        }
    }

    /**
     * The same products with their counts on the device ({@code groupedLinearRouted}, -Dmoeprune.decodeRouting=device):
     * expertStart and the weights' addresses uploaded once, outside the timing, as a decoder does.
     */
    private static void routed(String label, int[] rows, int out, int in, DeviceBuffer w, DeviceBuffer x,
                               DeviceBuffer y, double flops, double peak) {
        int experts = rows.length, most = 0;
        int[] start = new int[experts + 1];
        long[] table = new long[experts];
        for (int e = 0; e < experts; e++) {
            start[e + 1] = start[e] + rows[e];
            table[e] = w.address() + 2L * e * out * in;
            most = Math.max(most, rows[e]);
        }
        DeviceBuffer starts = ops.alloc(4L * (experts + 1), "expert starts"), weights = ops.alloc(8L * experts,
                "the experts' addresses");
        try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
            ops.upload(a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_INT, start), starts, 0);
            ops.upload(a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_LONG, table), weights, 0);
            int bound = most;
            double ms = millis(() -> ops.groupedLinearRouted(starts, weights, experts, x, y, out, in, bound,
                    ExpertOutputs.F32));
            row(label + " [counts on the device: " + ops.groupedPath() + "]", ms, flops, peak);
        } finally {
            ops.free(starts);
            ops.free(weights);
        }
    }
}
