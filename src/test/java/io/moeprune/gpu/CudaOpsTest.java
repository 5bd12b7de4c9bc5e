package io.moeprune.gpu;

import io.moeprune.gpu.ops.CudaOps;
import io.moeprune.gpu.ops.DeviceOps;
import io.moeprune.gpu.ops.ExpertOutputs;
import io.moeprune.gpu.ops.HostOps;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every {@link io.moeprune.gpu.ops.DeviceOps} operation of {@link CudaOps} against {@link HostOps} on copies of the
 * same random inputs (fresh per check; odd and real shapes), outputs poisoned before the run. Tolerances:
 * ‖gpu − host‖/‖host‖ under 1e-5 for F32 operations, exact for BF16 conversions, dequantisation, copies and gathers,
 * 1e-4 for the products and attention (1e-2 for the tensor-core and flash attention: BF16 inputs and probabilities). One line per check, so the device log reads as a table. Skips without CUDA.
 */
class CudaOpsTest {
    private static CudaOps gpu;
    private static HostOps host;
    private static long seed = 22;
    private final List<Pair> held = new ArrayList<>();

    /** One buffer on each side, holding the same bytes. */
    private record Pair(DeviceBuffer gpu, DeviceBuffer host) {
    }

    @BeforeAll
    static void open() {
        gpu = new CudaOps(GpuTestSupport.openOrSkip(6L << 30));
        host = new HostOps(6L << 30);
    }

    @AfterAll
    static void close() {
        if (gpu != null) gpu.close();
        if (host != null) host.close();
    }

    @AfterEach
    void freeBuffers() {
        for (Pair p : held) {
            gpu.free(p.gpu());
            host.free(p.host());
        }
        held.clear();
    }

    // ---- inputs and outputs -------------------------------------------------------------------------------------

    private static Random random() {
        return new Random(seed++);
    }

    private Pair input(MemorySegment bytes) {
        Pair p = new Pair(gpu.alloc(bytes.byteSize(), "a test input"), host.alloc(bytes.byteSize(), "a test input"));
        held.add(p);
        gpu.upload(bytes, p.gpu(), 0);
        host.upload(bytes, p.host(), 0);
        return p;
    }

    /** An output (or in-place operand) poisoned with 0x7F bytes on both sides. */
    private Pair output(long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment poison = a.allocate(bytes);
            poison.fill((byte) 0x7F);
            return input(poison);
        }
    }

    /** Poisons a GPU output again (0x7F bytes, as {@link #output}) before another run into it. */
    private static void poison(DeviceBuffer b, long bytes) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment poison = a.allocate(bytes);
            poison.fill((byte) 0x7F);
            gpu.upload(poison, b, 0);
        }
    }

    private Pair f32(float[] values) {
        try (Arena a = Arena.ofConfined()) {
            return input(a.allocateFrom(JAVA_FLOAT, values));
        }
    }

    private Pair i32(int[] values) {
        try (Arena a = Arena.ofConfined()) {
            return input(a.allocateFrom(JAVA_INT, values));
        }
    }

    private Pair u8(byte[] values) {
        try (Arena a = Arena.ofConfined()) {
            return input(a.allocateFrom(JAVA_BYTE, values));
        }
    }

    /** gpt-oss's attention sinks: one F32 logit a head. */
    private Pair sinks(Random r, int heads) {
        float[] sv = new float[heads];
        for (int h = 0; h < sv.length; h++) sv[h] = (float) r.nextGaussian() * 2;
        return f32(sv);
    }

    private Pair bf16(Random r, int count) {
        short[] v = new short[count];
        for (int i = 0; i < count; i++) v[i] = GpuTestSupport.bf16((float) r.nextGaussian());
        try (Arena a = Arena.ofConfined()) {
            return input(a.allocateFrom(JAVA_SHORT, v));
        }
    }

    private Pair gaussian(Random r, long count) {
        float[] v = new float[Math.toIntExact(count)];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return f32(v);
    }

    private static MemorySegment read(DeviceOps ops, DeviceBuffer b, long bytes, Arena a) {
        MemorySegment s = a.allocate(bytes, 8);
        ops.download(b, 0, s);
        return s;
    }

    private static float[] floats(Pair p, boolean onGpu, long count) {
        try (Arena a = Arena.ofConfined()) {
            return read(onGpu ? gpu : host, onGpu ? p.gpu() : p.host(), 4 * count, a).toArray(JAVA_FLOAT);
        }
    }

    private static short[] shorts(Pair p, boolean onGpu, long count) {
        try (Arena a = Arena.ofConfined()) {
            return read(onGpu ? gpu : host, onGpu ? p.gpu() : p.host(), 2 * count, a).toArray(JAVA_SHORT);
        }
    }

    // ---- comparisons --------------------------------------------------------------------------------------------

    /** ‖gpu − host‖/‖host‖ of F32 outputs under {@code tolerance}, printed as one line of the table. */
    private static void assertClose(String check, Pair out, long count, double tolerance) {
        assertCloseValues(check, floats(out, true, count), floats(out, false, count), tolerance);
    }

    /** The GPU's values {@code g} within {@code tolerance} (relative L2) of HostOps's {@code h}, all finite. */
    private static void assertCloseValues(String check, float[] g, float[] h, double tolerance) {
        double err = GpuTestSupport.relativeError(g, h);
        boolean finite = true;
        for (float v : g) finite &= Float.isFinite(v);
        System.out.printf("%-58s rel.err %.2e (limit %.0e)%n", check, err, tolerance);
        assertTrue(finite, check + ": non-finite output (an element nothing wrote?)");
        assertTrue(err < tolerance, check + ": relative error " + err);
    }

    /** As {@link #assertClose}, on each of {@code rows} rows of {@code width} on its own: the worst row's error. */
    private static void assertCloseRows(String check, Pair out, int rows, int width, double tolerance) {
        float[] g = floats(out, true, (long) rows * width), h = floats(out, false, (long) rows * width);
        double worst = 0;
        int worstRow = -1;
        for (int row = 0; row < rows; row++) {
            float[] gr = java.util.Arrays.copyOfRange(g, row * width, (row + 1) * width);
            float[] hr = java.util.Arrays.copyOfRange(h, row * width, (row + 1) * width);
            double err = GpuTestSupport.relativeError(gr, hr);
            if (!(err <= worst)) {
                worst = err;
                worstRow = row;
            }
        }
        System.out.printf("%-58s rel.err %.2e (limit %.0e, row %d)%n", check, worst, tolerance, worstRow);
        assertTrue(worst < tolerance, check + ": relative error " + worst + " in row " + worstRow);
    }

    /** BF16 outputs bit for bit (any NaN matches any NaN). */
    private static void assertBf16Exact(String check, Pair out, long count) {
        short[] g = shorts(out, true, count), h = shorts(out, false, count);
        int differ = 0;
        for (int i = 0; i < g.length; i++) {
            boolean bothNaN = Float.isNaN(GpuTestSupport.fromBf16(g[i])) && Float.isNaN(GpuTestSupport.fromBf16(h[i]));
            if (g[i] != h[i] && !bothNaN) differ++;
        }
        System.out.printf("%-58s %d of %d BF16 values differ (limit 0)%n", check, differ, count);
        assertEquals(0, differ, check);
    }

    // ---- conversions --------------------------------------------------------------------------------------------

    @Test
    void toBf16IsExact() {
        for (int count : new int[]{1, 1000, 7168 * 37 + 5}) {
            Random r = random();
            float[] v = new float[count];
            for (int i = 0; i < count; i++) v[i] = (float) (r.nextGaussian() * Math.pow(10, r.nextInt(12) - 6));
            if (count > 10) {
                v[0] = Float.NaN;
                v[1] = Float.POSITIVE_INFINITY;
                v[2] = -0f;
                v[3] = Float.intBitsToFloat(0x3F808000);   // a tie: rounds to even
                v[4] = Float.intBitsToFloat(0x3F818000);
            }
            Pair src = f32(v), dst = output(2L * count);
            gpu.toBf16(src.gpu(), dst.gpu(), count);
            host.toBf16(src.host(), dst.host(), count);
            assertBf16Exact("toBf16 " + count, dst, count);
        }
    }

    @Test
    void fp8BlocksDequantiseExactly() {
        int[][] shapes = {{1, 1, 128}, {37, 300, 128}, {256, 2048, 128}, {130, 70, 16}};
        for (int[] s : shapes) {
            int rows = s[0], cols = s[1], block = s[2];
            Random r = random();
            byte[] q = new byte[rows * cols];
            r.nextBytes(q);   // every code, NaN included
            int sr = (rows + block - 1) / block, sc = (cols + block - 1) / block;
            float[] scales = new float[sr * sc];
            for (int i = 0; i < scales.length; i++) scales[i] = (float) Math.exp(r.nextGaussian() * 3);
            Pair src = u8(q), sca = f32(scales), dst = output(2L * rows * cols);
            gpu.dequantFp8Blocks(src.gpu(), sca.gpu(), dst.gpu(), rows, cols, block);
            host.dequantFp8Blocks(src.host(), sca.host(), dst.host(), rows, cols, block);
            assertBf16Exact("dequantFp8Blocks " + rows + "x" + cols + " block " + block, dst, (long) rows * cols);
        }
    }

    @Test
    void mxfp4DequantisesExactly() {
        int[][] shapes = {{1, 32}, {37, 2880}, {256, 64}};
        for (int[] s : shapes) {
            int rows = s[0], cols = s[1];
            Random r = random();
            byte[] blocks = new byte[rows * cols / 2], scales = new byte[rows * cols / 32];
            r.nextBytes(blocks);
            for (int i = 0; i < scales.length; i++) scales[i] = (byte) (127 + r.nextInt(21) - 10);
            if (scales.length > 2) {
                scales[0] = 0;
                scales[1] = (byte) 0xFF;
            }
            Pair b = u8(blocks), sc = u8(scales), dst = output(2L * rows * cols);
            gpu.dequantMxfp4(b.gpu(), sc.gpu(), dst.gpu(), rows, cols);
            host.dequantMxfp4(b.host(), sc.host(), dst.host(), rows, cols);
            assertBf16Exact("dequantMxfp4 " + rows + "x" + cols, dst, (long) rows * cols);
        }
    }

    // ---- matrix products ----------------------------------------------------------------------------------------

    @Test
    void linearMatchesInBf16() {
        int[][] shapes = {{1, 1, 1}, {37, 256, 7168}, {130, 384, 2048}, {7, 1000, 4096}, {300, 64, 2048}};
        for (int[] s : shapes) {
            int n = s[0], out = s[1], in = s[2];
            for (boolean accumulate : new boolean[]{false, true}) {
                Random r = random();
                int ldy = out + 3, wRows = out + 2;
                Pair w = bf16(r, wRows * in), x = bf16(r, (n + 1) * in), y = gaussian(r, (long) (n + 1) * ldy);
                long wOff = 2L * in, xOff = 2L * in, yOff = 4L * ldy;   // one row in: the offsets are honoured
                gpu.linear(n, out, in, w.gpu(), wOff, x.gpu(), xOff, y.gpu(), yOff, ldy, accumulate);
                host.linear(n, out, in, w.host(), wOff, x.host(), xOff, y.host(), yOff, ldy, accumulate);
                assertClose("linear " + n + "x" + out + "x" + in + (accumulate ? " accumulate" : ""), y,
                        (long) (n + 1) * ldy, 1e-4);
            }
        }
    }

    /**
     * The fused epilogue's o_proj into the residual: y += x·Wᵀ (cuBLAS's beta = 1) against the product into a buffer
     * then addScaled(y, ·, 1). cuBLAS's epilogue adds the same F32 product, so the same bits unless it picks another
     * kernel for beta = 1 (another accumulation order): the differing values are printed, the error held to 1e-5.
     * The last shape is the 1.9 B model's o_proj over a chunk of 8 × 2048 tokens.
     */
    @Test
    void linearAccumulatingIntoYMatchesTheProductThenAddScaled() {
        int[][] shapes = {{37, 256, 2048}, {300, 2048, 2048}, {16384, 2048, 2048}};
        for (int[] s : shapes) {
            int n = s[0], out = s[1], in = s[2];
            Random r = random();
            Pair w = bf16(r, out * in), x = bf16(r, n * in), y = gaussian(r, (long) n * out);
            DeviceBuffer branch = gpu.alloc(4L * n * out, "the product"), twoPasses = gpu.alloc(4L * n * out, "y");
            try {
                gpu.linear(n, out, in, w.gpu(), 0, x.gpu(), 0, branch, 0, out, false);
                copy(y.gpu(), twoPasses, 4L * n * out);
                gpu.addScaled(twoPasses, 0, branch, 0, (long) n * out, 1f);
                gpu.linear(n, out, in, w.gpu(), 0, x.gpu(), 0, y.gpu(), 0, out, true);
                float[] expected;
                try (Arena a = Arena.ofConfined()) {
                    expected = read(gpu, twoPasses, 4L * n * out, a).toArray(JAVA_FLOAT);
                }
                float[] got = floats(y, true, (long) n * out);
                int differ = 0;
                for (int i = 0; i < got.length; i++) {
                    if (Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(expected[i])) differ++;
                }
                String check = "linear accumulate " + n + "x" + out + "x" + in + " vs product + addScaled";
                System.out.printf("%-58s %d of %d F32 values differ%n", check, differ, got.length);
                assertCloseValues(check, got, expected, 1e-5);
            } finally {
                gpu.free(branch);
                gpu.free(twoPasses);
            }
        }
    }

    /** Copies {@code bytes} bytes between two GPU buffers through the host. */
    private static void copy(DeviceBuffer from, DeviceBuffer to, long bytes) {
        try (Arena a = Arena.ofConfined()) {
            gpu.upload(read(gpu, from, bytes, a), to, 0);
        }
    }

    @Test
    void linearF32MatchesInF32() {
        int[][] shapes = {{1, 32, 2048}, {37, 128, 4096}, {300, 256, 7168}, {3, 7, 5}};
        for (int[] s : shapes) {
            int n = s[0], out = s[1], in = s[2];
            Random r = random();
            Pair w = gaussian(r, (long) out * in), x = gaussian(r, (long) n * in), y = output(4L * n * out);
            gpu.linearF32(n, out, in, w.gpu(), x.gpu(), y.gpu());
            host.linearF32(n, out, in, w.host(), x.host(), y.host());
            // 1e-4 as the other products; TF32 (a 10-bit mantissa) would show as several 1e-4
            assertClose("linearF32 " + n + "x" + out + "x" + in, y, (long) n * out, 1e-4);
        }
    }

    @Test
    void groupedLinearMatchesEachProblem() {
        // {experts, out, in, most rows}: Qwen3-30B-A3B's up/down shapes and DeepSeek-V3's, with few rows (the host
        // reference is slow), and many small problems with up to 300 rows (the gemv path splits the first two's
        // experts into pieces of at most 8 rows); then decoding's few rows an expert (at most the gemv kernel's 8,
        // most 1-2, every 5th expert masked): Qwen3-30B-A3B's [gate | up] and down, two tiles of the kernel's input
        // columns (2072) with a partial block of output rows, and a width not a multiple of 8 (its scalar path)
        int[][] shapes = {{32, 768, 2048, 12}, {16, 2048, 768, 12}, {6, 256, 7168, 40}, {128, 64, 96, 300},
                {24, 128, 256, 200}, {64, 1536, 2048, 8}, {64, 2048, 768, 8}, {8, 100, 2072, 8}, {7, 70, 100, 8}};
        for (int[] s : shapes) {
            int experts = s[0], out = s[1], in = s[2];
            Random r = random();
            int[] rows = new int[experts];
            for (int e = 0; e < experts; e++) rows[e] = e % 5 == 3 ? 0 : 1 + r.nextInt(e % 7 == 0 ? s[3] : 1 + s[3] / 8);
            // The gemv path runs where the experts' rows in pieces of at most 8 are at most 1.5 an expert
            // (CudaGroupedProducts.gemvPieces), else auto's.
            int total = 0, pieces = 0;
            for (int n : rows) {
                total += n;
                pieces += (n + 7) / 8;
            }
            boolean gemvTakes = 2 * pieces <= 3 * experts;
            // auto takes the gemv kernel where no expert has more than 8 rows (CudaGroupedProducts.autoTakesGemv)
            int most = Arrays.stream(rows).max().orElse(0);
            boolean autoTakesGemv = most > 0 && most <= 8;
            Pair w = bf16(r, experts * out * in), x = bf16(r, total * in), y = output(4L * total * out);
            long[][] gp = new long[3][experts], hp = new long[3][experts];
            for (int e = 0, row = 0; e < experts; row += rows[e], e++) {
                gp[0][e] = w.gpu().address() + 2L * e * out * in;
                hp[0][e] = w.host().address() + 2L * e * out * in;
                gp[1][e] = x.gpu().address() + 2L * row * in;
                hp[1][e] = x.host().address() + 2L * row * in;
                gp[2][e] = y.gpu().address() + 4L * row * out;
                hp[2][e] = y.host().address() + 4L * row * out;
            }
            host.groupedLinear(rows, out, in, hp[0], hp[1], hp[2]);
            // Every path, outputs poisoned again before each; BF16 outputs widened are 2^-9 relative each.
            for (CudaOps.GroupedPath path : CudaOps.GroupedPath.values()) {
                poison(y.gpu(), 4L * total * out);
                gpu.groupedPath(path);
                gpu.groupedLinear(rows, out, in, gp[0], gp[1], gp[2]);
                String ran = gpu.groupedPath();
                // The gemv kernel: F32 sums of exact BF16 products, as cuBLAS's, in another order: 1e-5.
                boolean gemv = ran.startsWith("gemv kernel");
                assertEquals(expectsGemv(path, gemvTakes, autoTakesGemv), gemv, ran);
                assertClose("groupedLinear " + experts + " experts " + out + "x" + in + " (" + total + " rows, "
                        + path.switchName() + ": " + ran + ")", y, (long) total * out,
                        ran.contains("BF16") ? 4e-3 : gemv ? 1e-5 : 1e-4);
            }
            // -Dmoeprune.expertOutputs=bf16: every path writing BF16 rows (HostOps rounds its F32 result once more;
            // cuBLAS's own rounding of a different summation may land one BF16 ulp away: 2^-8 relative at most).
            Pair yb = output(2L * total * out);
            for (int e = 0, row = 0; e < experts; row += rows[e], e++) {
                gp[2][e] = yb.gpu().address() + 2L * row * out;
                hp[2][e] = yb.host().address() + 2L * row * out;
            }
            host.groupedLinear(rows, out, in, hp[0], hp[1], hp[2], ExpertOutputs.BF16);
            for (CudaOps.GroupedPath path : CudaOps.GroupedPath.values()) {
                poison(yb.gpu(), 2L * total * out);
                gpu.groupedPath(path);
                gpu.groupedLinear(rows, out, in, gp[0], gp[1], gp[2], ExpertOutputs.BF16);
                assertEquals(expectsGemv(path, gemvTakes, autoTakesGemv), gpu.groupedPath().startsWith("gemv kernel"),
                        gpu.groupedPath());
                assertCloseBf16("groupedLinear BF16 outputs " + experts + " experts " + out + "x" + in + " ("
                        + path.switchName() + ": " + gpu.groupedPath() + ")", yb, (long) total * out, 4e-3);
            }
            gpu.groupedPath(CudaOps.GroupedPath.AUTO);
        }
    }

    /** Whether {@code path} runs the gemv kernel: asked for and taken, or auto on few rows an expert. */
    private static boolean expectsGemv(CudaOps.GroupedPath path, boolean gemvTakes, boolean autoTakesGemv) {
        return path == CudaOps.GroupedPath.GEMV && gemvTakes || path == CudaOps.GroupedPath.AUTO && autoTakesGemv;
    }

    /**
     * {@link DeviceOps#groupedLinearRouted} (kernels.cu's grouped_gemv_routed: the counts read on the device) against
     * HostOps, F32 and BF16 outputs: counts 0..9 (an expert of 9 rows runs two pieces), every 5th expert masked
     * (0 rows), the slots after the last expert's rows left alone; Qwen3-30B-A3B's decode [gate | up] and down, two
     * tiles of input columns with a partial block of output rows, a width not a multiple of 8 (the scalar loads), and
     * an input base 16-byte misaligned (the scalar loads, decided per block). The gemv path's tolerances.
     */
    @Test
    void groupedLinearRoutedMatchesHostOps() {
        // {experts, out, in, x misaligned by 2 bytes}
        int[][] shapes = {{64, 1536, 2048, 0}, {64, 2048, 768, 0}, {8, 100, 2072, 0}, {7, 70, 100, 0},
                {16, 64, 256, 1}};
        for (int[] s : shapes) {
            int experts = s[0], out = s[1], in = s[2], skew = s[3], most = 9, past = 3;
            Random r = random();
            int[] start = new int[experts + 1];
            for (int e = 0; e < experts; e++) start[e + 1] = start[e] + (e % 5 == 3 ? 0 : r.nextInt(most + 1));
            int total = start[experts];
            Pair w = bf16(r, experts * out * in), x = bf16(r, (total + past) * in + skew);
            long[] gw = new long[experts], hw = new long[experts];
            for (int e = 0; e < experts; e++) {
                gw[e] = w.gpu().address() + 2L * e * out * in;
                hw[e] = w.host().address() + 2L * e * out * in;
            }
            Pair table;
            try (Arena a = Arena.ofConfined()) {
                table = new Pair(gpu.alloc(8L * experts, "a test table"), host.alloc(8L * experts, "a test table"));
                held.add(table);
                gpu.upload(a.allocateFrom(JAVA_LONG, gw), table.gpu(), 0);
                host.upload(a.allocateFrom(JAVA_LONG, hw), table.host(), 0);
            }
            Pair starts = i32(start);
            DeviceBuffer gx = new DeviceBuffer(x.gpu().address() + 2L * skew, 2L * (total + past) * in);
            DeviceBuffer hx = new DeviceBuffer(x.host().address() + 2L * skew, 2L * (total + past) * in);
            for (ExpertOutputs outputs : ExpertOutputs.values()) {
                long count = (long) (total + past) * out;
                Pair y = output(outputs.bytes() * count);
                gpu.groupedLinearRouted(starts.gpu(), table.gpu(), experts, gx, y.gpu(), out, in, most, outputs);
                host.groupedLinearRouted(starts.host(), table.host(), experts, hx, y.host(), out, in, most, outputs);
                String check = "groupedLinearRouted " + outputs + " " + experts + " experts " + out + "x" + in + " ("
                        + total + " rows" + (skew > 0 ? ", x misaligned" : "") + ")";
                // Both sides leave the masked slots' rows (after the last expert's) poisoned: compared whole.
                if (outputs == ExpertOutputs.F32) {
                    float[] g = floats(y, true, count), h = floats(y, false, count);
                    int live = total * out;
                    assertArrayEquals(Arrays.copyOfRange(h, live, h.length),
                            Arrays.copyOfRange(g, live, g.length), check + ": masked slots' rows");
                    assertCloseValues(check, Arrays.copyOf(g, live), Arrays.copyOf(h, live), 1e-5);
                } else {
                    assertCloseBf16(check, y, count - (long) past * out, 4e-3);
                    short[] g = shorts(y, true, count), h = shorts(y, false, count);
                    assertArrayEquals(Arrays.copyOfRange(h, total * out, h.length),
                            Arrays.copyOfRange(g, total * out, g.length), check + ": masked slots' rows");
                }
            }
        }
    }

    /** As {@link #assertClose}, of BF16 outputs widened. */
    private static void assertCloseBf16(String check, Pair out, long count, double tolerance) {
        short[] g = shorts(out, true, count), h = shorts(out, false, count);
        float[] gw = new float[g.length], hw = new float[h.length];
        for (int i = 0; i < g.length; i++) {
            gw[i] = Float.intBitsToFloat((g[i] & 0xFFFF) << 16);
            hw[i] = Float.intBitsToFloat((h[i] & 0xFFFF) << 16);
        }
        assertCloseValues(check, gw, hw, tolerance);
    }

    // ---- row-wise operations ------------------------------------------------------------------------------------

    @Test
    void rmsNormMatches() {
        int[][] shapes = {{1, 2048, 2048}, {37, 4096, 4100}, {300, 7168, 7168}, {600 * 4, 128, 128}, {37 * 16, 64, 64},
                {5, 192, 200}};
        for (int[] s : shapes) {
            int rows = s[0], width = s[1], stride = s[2];
            for (boolean inPlace : new boolean[]{false, true}) {
                Random r = random();
                Pair src = gaussian(r, (long) rows * stride + 8), w = gaussian(r, width);
                Pair dst = inPlace ? src : output(4L * rows * stride + 32);
                gpu.rmsNorm(src.gpu(), 32, dst.gpu(), 32, rows, width, stride, w.gpu(), 1e-6f);
                host.rmsNorm(src.host(), 32, dst.host(), 32, rows, width, stride, w.host(), 1e-6f);
                assertCloseRows("rmsNorm " + rows + "x" + width + " stride " + stride + (inPlace ? " in place" : ""),
                        dst, rows, width, stride, 8, 1e-5);
            }
        }
    }

    @Test
    void rmsNormHeadsMatches() {
        // {rows, heads, headDim, rowStride, element offset}: Qwen3's q (32 heads of 128) and k (4 heads after q) in
        // the fused [q | k | v] row, a chunk of 600 tokens with 16 + 4 heads of 64.
        int[][] shapes = {{37, 32, 128, 32 * 128 + 2 * 4 * 128, 0}, {37, 4, 128, 32 * 128 + 2 * 4 * 128, 32 * 128},
                {600, 16, 64, 16 * 64 + 2 * 4 * 64, 0}, {600, 4, 64, 16 * 64 + 2 * 4 * 64, 16 * 64}};
        for (int[] s : shapes) {
            int rows = s[0], heads = s[1], headDim = s[2], stride = s[3];
            Random r = random();
            Pair x = gaussian(r, (long) rows * stride), w = gaussian(r, headDim);
            gpu.rmsNormHeads(x.gpu(), 4L * s[4], rows, heads, headDim, stride, w.gpu(), 1e-6f);
            host.rmsNormHeads(x.host(), 4L * s[4], rows, heads, headDim, stride, w.host(), 1e-6f);
            assertClose("rmsNormHeads " + rows + "x" + heads + "x" + headDim + " @" + s[4], x, (long) rows * stride,
                    1e-5);
        }
    }

    @Test
    void rmsNormBf16Matches() {
        int[][] shapes = {{1, 2048}, {37, 4096}, {300, 7168}, {600, 2048}};
        for (int[] s : shapes) {
            int rows = s[0], width = s[1];
            for (boolean keepF32 : new boolean[]{true, false}) {
                Random r = random();
                Pair src = gaussian(r, (long) rows * width), w = gaussian(r, width);
                Pair f32 = keepF32 ? output(4L * rows * width) : null, bf16 = output(2L * rows * width);
                gpu.rmsNormBf16(src.gpu(), keepF32 ? f32.gpu() : null, bf16.gpu(), rows, width, w.gpu(), 1e-6f);
                host.rmsNormBf16(src.host(), keepF32 ? f32.host() : null, bf16.host(), rows, width, w.host(), 1e-6f);
                String check = "rmsNormBf16 " + rows + "x" + width + (keepF32 ? " +F32" : "");
                if (keepF32) assertClose(check + " F32", f32, (long) rows * width, 1e-5);
                assertCloseBf16(check + " BF16", bf16, (long) rows * width, 1e-2);
            }
        }
    }

    /** Compares only the rows' {@code width} elements (the gaps between strided rows stay as they were). */
    private static void assertCloseRows(String check, Pair out, int rows, int width, int stride, int offset,
                                        double tolerance) {
        long count = (long) offset + (long) rows * stride;
        float[] g = floats(out, true, count), h = floats(out, false, count);
        float[] gr = new float[rows * width], hr = new float[rows * width];
        for (int t = 0; t < rows; t++) {
            System.arraycopy(g, offset + t * stride, gr, t * width, width);
            System.arraycopy(h, offset + t * stride, hr, t * width, width);
        }
        double err = GpuTestSupport.relativeError(gr, hr);
        System.out.printf("%-58s rel.err %.2e (limit %.0e)%n", check, err, tolerance);
        assertTrue(err < tolerance, check + ": relative error " + err);
    }

    @Test
    void ropeMatchesInterleavedAndHalves() {
        // {rows, heads, headDim, ropeOffset, rotaryDim}: Qwen3 (128, all), gpt-oss (64), MLA's rope part (192: 128 + 64)
        int[][] shapes = {{1, 32, 128, 0, 128}, {37, 4, 128, 0, 128}, {600, 8, 64, 0, 64}, {37, 16, 192, 128, 64},
                {300, 2, 128, 0, 64}};
        for (int[] s : shapes) {
            int rows = s[0], heads = s[1], headDim = s[2], ropeOffset = s[3], rotaryDim = s[4];
            for (boolean interleaved : new boolean[]{false, true}) {
                Random r = random();
                int rowStride = heads * headDim + 64;   // q beside k in one fused row
                int[] positions = new int[rows];
                for (int t = 0; t < rows; t++) positions[t] = r.nextInt(4) == 0 ? r.nextInt(130_000) : t;
                float[] inv = new float[rotaryDim / 2];
                for (int i = 0; i < inv.length; i++) inv[i] = (float) Math.pow(1_000_000, -2.0 * i / rotaryDim);
                Pair x = gaussian(r, (long) rows * rowStride), pos = i32(positions), invFreq = f32(inv);
                float scale = interleaved ? 1.2f : 1f;
                gpu.rope(x.gpu(), 4L * 16, rows, rowStride, heads, headDim, ropeOffset, rotaryDim, pos.gpu(),
                        invFreq.gpu(), scale, interleaved);
                host.rope(x.host(), 4L * 16, rows, rowStride, heads, headDim, ropeOffset, rotaryDim, pos.host(),
                        invFreq.host(), scale, interleaved);
                assertClose("rope " + rows + "x" + heads + "x" + headDim + " rotary " + rotaryDim + "@" + ropeOffset
                        + (interleaved ? " interleaved" : " halves"), x, (long) rows * rowStride, 1e-5);
            }
        }
    }

    /**
     * The fused epilogue's per-head norm with the rope in one kernel ({@code rms_norm_heads_rope}) against
     * rmsNormHeads then rope on the GPU, bit for bit (the same float operations), and against HostOps within 1e-5.
     */
    @Test
    void rmsNormHeadsRopeIsTheTwoKernelsBitForBit() {
        // {rows, heads, headDim, rowStride, element offset, rotaryDim, interleaved}: the 1.9 B model's q (16 heads of
        // 128) and k (4 after q) in the fused [q | k | v] row; Qwen3-30B-A3B's q; a partial rotary; interleaved pairs.
        int[][] shapes = {{600, 16, 128, 24 * 128, 0, 128, 0}, {600, 4, 128, 24 * 128, 16 * 128, 128, 0},
                {37, 32, 128, 40 * 128, 0, 128, 0}, {37, 8, 64, 8 * 64 + 100, 20, 32, 0},
                {37, 8, 64, 8 * 64 + 100, 20, 64, 1}};
        for (int[] s : shapes) {
            int rows = s[0], heads = s[1], headDim = s[2], stride = s[3], rotary = s[5];
            long offset = 4L * s[4];
            boolean interleaved = s[6] == 1;
            float scale = interleaved ? 1.2f : 1f;
            Random r = random();
            float[] xs = new float[rows * stride], inv = new float[rotary / 2];
            for (int i = 0; i < xs.length; i++) xs[i] = (float) r.nextGaussian() * 3;
            for (int i = 0; i < inv.length; i++) inv[i] = (float) Math.pow(1_000_000, -2.0 * i / rotary);
            int[] positions = new int[rows];
            for (int t = 0; t < rows; t++) positions[t] = r.nextInt(4) == 0 ? r.nextInt(130_000) : t;
            Pair twoKernels = f32(xs), oneKernel = f32(xs), w = gaussian(r, headDim), pos = i32(positions),
                    invFreq = f32(inv);
            gpu.rmsNormHeads(twoKernels.gpu(), offset, rows, heads, headDim, stride, w.gpu(), 1e-6f);
            gpu.rope(twoKernels.gpu(), offset, rows, stride, heads, headDim, 0, rotary, pos.gpu(), invFreq.gpu(),
                    scale, interleaved);
            gpu.rmsNormHeadsRope(oneKernel.gpu(), offset, rows, heads, headDim, stride, w.gpu(), 1e-6f, pos.gpu(),
                    invFreq.gpu(), rotary, scale, interleaved);
            host.rmsNormHeadsRope(oneKernel.host(), offset, rows, heads, headDim, stride, w.host(), 1e-6f, pos.host(),
                    invFreq.host(), rotary, scale, interleaved);
            String check = "rmsNormHeadsRope " + rows + "x" + heads + "x" + headDim + " rotary " + rotary
                    + (interleaved ? " interleaved" : "");
            long count = (long) rows * stride;
            float[] expected = floats(twoKernels, true, count), got = floats(oneKernel, true, count);
            int differ = 0;
            for (int i = 0; i < got.length; i++) {
                if (Float.floatToRawIntBits(got[i]) != Float.floatToRawIntBits(expected[i])) differ++;
            }
            System.out.printf("%-58s %d of %d F32 values differ from the two kernels (limit 0)%n", check, differ,
                    count);
            assertEquals(0, differ, check);
            assertClose(check + " vs HostOps", oneKernel, count, 1e-5);
        }
    }

    @Test
    void attentionMatches() {
        // {sequence lengths..., heads, kvHeads, qkDim, vDim, window, sinks, unaligned (odd strides, 4-byte offsets)}
        record Case(int[] lengths, int heads, int kvHeads, int qkDim, int vDim, int window, boolean sinks,
                    boolean unaligned) {
        }
        int[] ragged = {1, 17, 63, 64, 65, 200, 1000};   // around the flash kernel's 64-row tiles, back to back
        List<String> failed = new ArrayList<>();
        List<Case> cases = List.of(
                new Case(new int[]{1}, 4, 4, 128, 128, 0, false, false),
                new Case(new int[]{37}, 8, 2, 128, 128, 0, false, false),
                new Case(new int[]{37, 1, 20}, 8, 1, 64, 64, 16, true, false),      // gpt-oss: sinks, window, GQA
                new Case(new int[]{600}, 4, 2, 64, 64, 128, true, false),
                new Case(new int[]{600}, 2, 1, 128, 128, 0, false, false),
                new Case(new int[]{37, 5}, 6, 6, 192, 128, 0, false, false),        // MLA: qk 192, v 128
                new Case(ragged, 16, 4, 128, 128, 0, false, false),                 // the 1.9 B model's heads
                new Case(ragged, 8, 8, 64, 64, 0, true, false),
                new Case(new int[]{200, 65, 1000}, 16, 4, 128, 128, 100, false, false),  // a window across tiles
                new Case(new int[]{130, 64, 300}, 8, 2, 64, 64, 128, true, false),  // gpt-oss's window and sinks
                new Case(new int[]{65, 200, 17}, 4, 4, 192, 128, 0, false, false),
                new Case(new int[]{17, 100, 64}, 6, 3, 96, 64, 0, false, true));    // padded heads, scalar loads
        for (Case c : cases) {
            Random r = random();
            int sequences = c.lengths().length, tokens = 0;
            int[] starts = new int[sequences + 1];
            for (int s = 0; s < sequences; s++) starts[s + 1] = tokens += c.lengths()[s];
            int skew = c.unaligned() ? 1 : 0, offset = c.unaligned() ? 4 : 16;
            int qStride = c.heads() * c.qkDim() + 32 + skew, kStride = c.kvHeads() * c.qkDim() + 16 + skew,
                    vStride = c.kvHeads() * c.vDim() + 8 + skew;
            Pair q = gaussian(r, (long) tokens * qStride + 4), k = gaussian(r, (long) tokens * kStride + 4),
                    v = gaussian(r, (long) tokens * vStride + 4), st = i32(starts);
            Pair out = output(4L * tokens * c.heads() * c.vDim());
            Pair sinks = c.sinks() ? sinks(r, c.heads()) : null;
            float scale = (float) (1 / Math.sqrt(c.qkDim()));
            host.attention(q.host(), offset, qStride, k.host(), offset, kStride, v.host(), offset, vStride, out.host(),
                    st.host(), sequences, tokens, c.heads(), c.kvHeads(), c.qkDim(), c.vDim(), scale, c.window(),
                    sinks == null ? null : sinks.host());
            // The warp kernel (F32) within 1e-4; tensor cores and flash (BF16 inputs and probabilities) within 1e-2;
            // flash in blocks of 64 and of 128 query rows, K and V read as F32 (runs 2, 3) and as BF16 (4, 5: the
            // bf16 variant; the padded heads of 96/64 take it too, their sizes are multiples of 8).
            for (int run = 0; run < 6; run++) {
                CudaOps.AttentionPath path = run < 2 ? (run == 0 ? CudaOps.AttentionPath.WARP
                        : CudaOps.AttentionPath.TENSOR) : CudaOps.AttentionPath.FLASH;
                int flashRows = run % 2 == 1 && run > 1 ? 128 : 64;
                CudaOps.FlashKv kv = run >= 4 ? CudaOps.FlashKv.BF16 : CudaOps.FlashKv.F32;
                poison(out.gpu(), 4L * tokens * c.heads() * c.vDim());
                gpu.attentionPath(path);
                gpu.flashRows(flashRows);
                gpu.flashKv(kv);
                try {
                    gpu.attention(q.gpu(), offset, qStride, k.gpu(), offset, kStride, v.gpu(), offset, vStride,
                            out.gpu(), st.gpu(), sequences, tokens, c.heads(), c.kvHeads(), c.qkDim(), c.vDim(), scale,
                            c.window(), sinks == null ? null : sinks.gpu());
                } finally {
                    gpu.attentionPath(CudaOps.AttentionPath.AUTO);
                    gpu.flashRows(CudaOps.DEFAULT_FLASH_ROWS);
                    gpu.flashKv(CudaOps.DEFAULT_FLASH_KV);
                }
                String label = path.name().toLowerCase() + (path == CudaOps.AttentionPath.FLASH
                        ? " " + flashRows + " " + kv.name().toLowerCase() : "");
                String check = "attention (" + label + ") " + java.util.Arrays.toString(c.lengths())
                        + " " + c.heads() + "/" + c.kvHeads() + " heads qk " + c.qkDim() + " v " + c.vDim()
                        + " window " + c.window() + (c.sinks() ? " sinks" : "") + (c.unaligned() ? " unaligned" : "");
                try {
                    assertClose(check, out, (long) tokens * c.heads() * c.vDim(),
                            path == CudaOps.AttentionPath.WARP ? 1e-4 : 1e-2);
                    // Row by row too: a tile's mask or a sequence's edge wrong in a few rows hides in the whole's norm.
                    if (path == CudaOps.AttentionPath.FLASH) {
                        assertCloseRows(check + ", worst row", out, tokens * c.heads(), c.vDim(), 5e-2);
                    }
                } catch (AssertionError e) {
                    failed.add(e.getMessage());   // every case still runs: one device call shows them all
                }
            }
        }
        assertTrue(failed.isEmpty(), failed.size() + " attention checks failed: " + String.join("; ", failed));
    }

    /**
     * The fused epilogue's BF16 attention rows ({@link DeviceOps#attentionBf16}): on every path (flash in both block
     * heights and K/V types writes them itself; tensor cores and the warp kernel through toBf16) bit for bit toBf16 of
     * the same path's F32 rows, and within 1e-2 of HostOps's BF16 rows.
     */
    @Test
    void attentionBf16RowsAreToBf16OfTheF32Rows() {
        // {sequence lengths..., heads, kvHeads, qkDim, vDim, window, sinks}
        record Case(int[] lengths, int heads, int kvHeads, int qkDim, int vDim, int window, boolean sinks) {
        }
        List<Case> cases = List.of(
                new Case(new int[]{1, 17, 63, 64, 65, 200, 1000}, 16, 4, 128, 128, 0, false),   // the 1.9 B model
                new Case(new int[]{130, 64, 300}, 8, 2, 64, 64, 128, true),                      // gpt-oss
                new Case(new int[]{65, 200, 17}, 4, 4, 192, 128, 0, false),                      // MLA's heads
                new Case(new int[]{17, 100, 64}, 6, 3, 96, 64, 0, false));                       // padded heads
        List<String> failed = new ArrayList<>();
        for (Case c : cases) {
            Random r = random();
            int sequences = c.lengths().length, tokens = 0;
            int[] starts = new int[sequences + 1];
            for (int s = 0; s < sequences; s++) starts[s + 1] = tokens += c.lengths()[s];
            int stride = (c.heads() + c.kvHeads()) * c.qkDim() + c.kvHeads() * c.vDim();
            long kAt = 4L * c.heads() * c.qkDim(), vAt = kAt + 4L * c.kvHeads() * c.qkDim();
            long count = (long) tokens * c.heads() * c.vDim();
            Pair qkv = gaussian(r, (long) tokens * stride), st = i32(starts);
            Pair f32 = output(4 * count), viaToBf16 = output(2 * count), direct = output(2 * count);
            Pair sinks = c.sinks() ? sinks(r, c.heads()) : null;
            float scale = (float) (1 / Math.sqrt(c.qkDim()));
            DeviceBuffer hostSinks = sinks == null ? null : sinks.host(), gpuSinks = sinks == null ? null : sinks.gpu();
            host.attentionBf16(qkv.host(), 0, stride, qkv.host(), kAt, stride, qkv.host(), vAt, stride, f32.host(),
                    direct.host(), st.host(), sequences, tokens, c.heads(), c.kvHeads(), c.qkDim(), c.vDim(), scale,
                    c.window(), hostSinks);
            for (int run = 0; run < 6; run++) {
                CudaOps.AttentionPath path = run < 2 ? (run == 0 ? CudaOps.AttentionPath.WARP
                        : CudaOps.AttentionPath.TENSOR) : CudaOps.AttentionPath.FLASH;
                int flashRows = run % 2 == 1 && run > 1 ? 128 : 64;
                CudaOps.FlashKv kv = run >= 4 ? CudaOps.FlashKv.BF16 : CudaOps.FlashKv.F32;
                poison(viaToBf16.gpu(), 2 * count);
                poison(direct.gpu(), 2 * count);
                gpu.attentionPath(path);
                gpu.flashRows(flashRows);
                gpu.flashKv(kv);
                try {
                    gpu.attention(qkv.gpu(), 0, stride, qkv.gpu(), kAt, stride, qkv.gpu(), vAt, stride, f32.gpu(),
                            st.gpu(), sequences, tokens, c.heads(), c.kvHeads(), c.qkDim(), c.vDim(), scale,
                            c.window(), gpuSinks);
                    gpu.toBf16(f32.gpu(), viaToBf16.gpu(), count);
                    gpu.attentionBf16(qkv.gpu(), 0, stride, qkv.gpu(), kAt, stride, qkv.gpu(), vAt, stride,
                            f32.gpu(), direct.gpu(), st.gpu(), sequences, tokens, c.heads(), c.kvHeads(), c.qkDim(),
                            c.vDim(), scale, c.window(), gpuSinks);
                } finally {
                    gpu.attentionPath(CudaOps.AttentionPath.AUTO);
                    gpu.flashRows(CudaOps.DEFAULT_FLASH_ROWS);
                    gpu.flashKv(CudaOps.DEFAULT_FLASH_KV);
                }
                String check = "attentionBf16 (" + path.name().toLowerCase() + (path == CudaOps.AttentionPath.FLASH
                        ? " " + flashRows + " " + kv.name().toLowerCase() : "") + ") "
                        + Arrays.toString(c.lengths()) + " " + c.heads() + "/" + c.kvHeads() + " qk " + c.qkDim()
                        + " v " + c.vDim();
                short[] expected = shorts(viaToBf16, true, count), got = shorts(direct, true, count);
                int differ = 0;
                for (int i = 0; i < got.length; i++) if (got[i] != expected[i]) differ++;
                System.out.printf("%-58s %d of %d BF16 values differ from toBf16 (limit 0)%n", check, differ, count);
                try {
                    assertEquals(0, differ, check + ": BF16 rows differ from toBf16 of the F32 rows");
                    assertCloseBf16(check + " vs HostOps", direct, count, 1e-2);
                } catch (AssertionError e) {
                    failed.add(e.getMessage());
                }
            }
        }
        assertTrue(failed.isEmpty(), failed.size() + " attentionBf16 checks failed: " + String.join("; ", failed));
    }

    @Test
    void cachedAttentionMatches() {
        // {past, n, heads, kvHeads, qkDim, vDim, window, sinks}: decode steps (n 1) and a prompt's later chunk
        int[][] cases = {{0, 1, 32, 4, 128, 128, 0, 0}, {700, 1, 32, 4, 128, 128, 0, 0}, {300, 1, 64, 8, 64, 64, 128, 1},
                {40, 17, 8, 2, 128, 128, 0, 0}, {90, 1, 16, 16, 192, 128, 0, 0}};
        for (int[] c : cases) {
            int past = c[0], n = c[1], heads = c[2], kvHeads = c[3], qkDim = c[4], vDim = c[5], window = c[6];
            Random r = random();
            int qStride = heads * qkDim + 24, rows = past + n + 3;
            Pair q = gaussian(r, (long) n * qStride + 8), k = gaussian(r, (long) rows * kvHeads * qkDim),
                    v = gaussian(r, (long) rows * kvHeads * vDim), out = output(4L * n * heads * vDim);
            Pair sinks = c[7] == 0 ? null : gaussian(r, heads);
            float scale = (float) (1 / Math.sqrt(qkDim));
            gpu.cachedAttention(q.gpu(), 32, qStride, k.gpu(), v.gpu(), out.gpu(), past, n, heads, kvHeads, qkDim, vDim,
                    scale, window, sinks == null ? null : sinks.gpu());
            host.cachedAttention(q.host(), 32, qStride, k.host(), v.host(), out.host(), past, n, heads, kvHeads, qkDim,
                    vDim, scale, window, sinks == null ? null : sinks.host());
            assertClose("cachedAttention past " + past + " n " + n + " " + heads + "/" + kvHeads + " heads qk " + qkDim
                    + " v " + vDim + " window " + window + (sinks != null ? " sinks" : ""), out,
                    (long) n * heads * vDim, 1e-4);
        }
    }

    @Test
    void batchedDecodeAttentionMatches() {
        // {sequences, heads, kvHeads, qkDim, vDim, window, sinks}: Qwen3-like GQA, gpt-oss (window, sinks), MLA
        int[][] cases = {{32, 32, 4, 128, 128, 0, 0}, {7, 64, 8, 64, 64, 128, 1}, {5, 16, 16, 192, 128, 0, 0}};
        for (int[] c : cases) {
            int n = c[0], heads = c[1], kvHeads = c[2], qkDim = c[3], vDim = c[4], window = c[5], capacity = 300;
            Random r = random();
            int qStride = heads * qkDim + 8, kStride = kvHeads * qkDim + 4, vStride = kvHeads * vDim + 4;
            Pair q = gaussian(r, (long) n * qStride), k = gaussian(r, (long) n * kStride),
                    v = gaussian(r, (long) n * vStride), out = output(4L * n * heads * vDim);
            int[] positions = new int[n];
            for (int s = 0; s < n; s++) positions[s] = r.nextInt(capacity);
            Pair pos = i32(positions), sinks = c[6] == 0 ? null : gaussian(r, heads);
            List<Pair> caches = new ArrayList<>();
            long[] gpuTable = new long[2 * n], hostTable = new long[2 * n];
            for (int s = 0; s < n; s++) {
                Pair kc = gaussian(r, (long) capacity * kvHeads * qkDim), vc = gaussian(r, (long) capacity * kvHeads * vDim);
                caches.add(kc);
                caches.add(vc);
                gpuTable[2 * s] = kc.gpu().address();
                gpuTable[2 * s + 1] = vc.gpu().address();
                hostTable[2 * s] = kc.host().address();
                hostTable[2 * s + 1] = vc.host().address();
            }
            Pair table = output(16L * n);
            try (Arena a = Arena.ofConfined()) {
                gpu.upload(a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_LONG, gpuTable), table.gpu(), 0);
                host.upload(a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_LONG, hostTable), table.host(), 0);
            }
            float scale = (float) (1 / Math.sqrt(qkDim));
            gpu.batchedDecodeAttention(q.gpu(), 0, qStride, k.gpu(), 0, kStride, v.gpu(), 0, vStride, out.gpu(),
                    table.gpu(), pos.gpu(), n, heads, kvHeads, qkDim, vDim, scale, window, sinks == null ? null : sinks.gpu());
            host.batchedDecodeAttention(q.host(), 0, qStride, k.host(), 0, kStride, v.host(), 0, vStride, out.host(),
                    table.host(), pos.host(), n, heads, kvHeads, qkDim, vDim, scale, window, sinks == null ? null : sinks.host());
            String what = "batchedDecodeAttention " + n + " sequences " + heads + "/" + kvHeads + " heads qk " + qkDim
                    + " v " + vDim + " window " + window + (sinks != null ? " sinks" : "");
            assertClose(what, out, (long) n * heads * vDim, 1e-4);
            assertExactF32(what + " key caches", caches.get(0), (long) capacity * kvHeads * qkDim);
            assertExactF32(what + " value caches", caches.get(caches.size() - 1), (long) capacity * kvHeads * vDim);
        }
    }

    @Test
    void clampAndTheFiniteCheckAreExact() {
        Random r = random();
        int rows = 37, width = 3 * 1024, stride = width + 7;
        float[] xv = new float[rows * stride];
        for (int i = 0; i < xv.length; i++) xv[i] = (float) (r.nextGaussian() * 12);
        xv[5] = Float.NaN;
        Pair x = f32(xv);
        gpu.clamp(x.gpu(), 8, rows, width, stride, 8f);
        host.clamp(x.host(), 8, rows, width, stride, 8f);
        assertExactF32("clamp " + rows + "x" + width + " to 8", x, (long) rows * stride);
        for (int[] bad : new int[][]{{-1, 0}, {123_457, 1}, {9, 0}, {2_000_000, 1}}) {
            int count = 3_000_000;
            float[] values = new float[count];
            for (int i = 0; i < count; i++) values[i] = (float) r.nextGaussian();
            if (bad[0] >= 0) {
                values[bad[0]] = bad[1] == 1 ? Float.NaN : Float.NEGATIVE_INFINITY;
                values[count - 1] = Float.POSITIVE_INFINITY;   // later ones do not hide the first
            }
            Pair in = f32(values), flags = i32(new int[4]);
            gpu.nonFinite(in.gpu(), 0, count, flags.gpu(), 2);
            host.nonFinite(in.host(), 0, count, flags.host(), 2);
            assertExactF32("nonFinite of " + count + " (first at " + bad[0] + ")", flags, 4);
            int flag = Float.floatToRawIntBits(floats(flags, true, 4)[2]);
            assertEquals(bad[0] < 0 ? 0 : 2 * (count - bad[0]) + bad[1], flag);
        }
    }

    @Test
    void gatedActivationMatches() {
        // {n, width, alpha, limit, upShift}: SwiGLU and gpt-oss's clamped variant
        float[][] cases = {{1, 768, 1, 0, 0}, {37, 2048, 1, 0, 0}, {300, 2880, 1.702f, 7, 1}, {5, 1407, 1.702f, 7, 1}};
        for (float[] c : cases) {
            int n = (int) c[0], width = (int) c[1];
            Random r = random();
            float[] gu = new float[2 * n * width];
            for (int i = 0; i < gu.length; i++) gu[i] = (float) (r.nextGaussian() * 4);
            Pair gateUp = f32(gu), out = output(2L * n * width);
            gpu.gatedActivation(gateUp.gpu(), out.gpu(), n, width, c[2], c[3], c[4]);
            host.gatedActivation(gateUp.host(), out.host(), n, width, c[2], c[3], c[4]);
            assertBf16Exact("gatedActivation " + n + "x" + width + " alpha " + c[2] + " limit " + c[3], out,
                    (long) n * width);
            // The experts' BF16 [gate | up] rows of -Dmoeprune.expertOutputs=bf16 (gated_activation_bf16).
            Pair gateUpBf16 = bf16(r, 2 * n * width);
            gpu.gatedActivation(gateUpBf16.gpu(), out.gpu(), n, width, c[2], c[3], c[4], ExpertOutputs.BF16);
            host.gatedActivation(gateUpBf16.host(), out.host(), n, width, c[2], c[3], c[4], ExpertOutputs.BF16);
            assertBf16Exact("gatedActivation BF16 rows " + n + "x" + width + " alpha " + c[2] + " limit " + c[3],
                    out, (long) n * width);
        }
    }

    @Test
    void addScaledAddBiasAndSigmoidGateAreExact() {
        for (int[] s : new int[][]{{1, 2048}, {37, 4096}, {300, 7168}}) {
            int rows = s[0], width = s[1];
            for (float m : new float[]{1f, 0.22f}) {
                Random r = random();
                long count = (long) rows * width;
                Pair x = gaussian(r, count + 8), y = gaussian(r, count + 16);
                gpu.addScaled(x.gpu(), 32, y.gpu(), 64, count, m);
                host.addScaled(x.host(), 32, y.host(), 64, count, m);
                assertExactF32("addScaled " + rows + "x" + width + " m " + m, x, count + 8);
            }
            Random r = random();
            int stride = width + 5;
            Pair x = gaussian(r, (long) rows * stride + 3), bias = gaussian(r, width);
            gpu.addBias(x.gpu(), 12, rows, width, stride, bias.gpu());
            host.addBias(x.host(), 12, rows, width, stride, bias.host());
            assertExactF32("addBias " + rows + "x" + width + " stride " + stride, x, (long) rows * stride + 3);
            Pair g = gaussian(r, (long) rows * width), gate = gaussian(r, rows);
            gpu.sigmoidGateRows(g.gpu(), rows, width, gate.gpu());
            host.sigmoidGateRows(g.host(), rows, width, gate.host());
            assertExactF32("sigmoidGateRows " + rows + "x" + width, g, (long) rows * width);
        }
    }

    private static void assertExactF32(String check, Pair out, long count) {
        float[] g = floats(out, true, count), h = floats(out, false, count);
        int differ = 0;
        for (int i = 0; i < g.length; i++) if (Float.floatToRawIntBits(g[i]) != Float.floatToRawIntBits(h[i])) differ++;
        System.out.printf("%-58s %d of %d F32 values differ (limit 0)%n", check, differ, count);
        assertEquals(0, differ, check);
    }

    @Test
    void copy2dIsExact() {
        // {rows, cols, srcStride, srcCol, dstStride, dstCol, srcRowDivisor}: MLA's rope key repeated for 16 heads
        int[][] cases = {{1, 1, 1, 0, 1, 0, 1}, {37, 128, 576, 448, 192, 0, 1}, {37 * 16, 64, 576, 512, 192, 128, 16},
                {300, 2048, 6144, 2048, 2048, 0, 1}};
        for (int[] c : cases) {
            Random r = random();
            int rows = c[0], cols = c[1], srcRows = (rows + c[6] - 1) / c[6];
            Pair src = gaussian(r, (long) srcRows * c[2] + 4), dst = gaussian(r, (long) rows * c[4] + 4);
            gpu.copy2d(src.gpu(), 16, c[2], c[3], dst.gpu(), 16, c[4], c[5], rows, cols, c[6]);
            host.copy2d(src.host(), 16, c[2], c[3], dst.host(), 16, c[4], c[5], rows, cols, c[6]);
            assertExactF32("copy2d " + rows + "x" + cols + " divisor " + c[6], dst, (long) rows * c[4] + 4);
        }
    }

    // ---- embeddings ---------------------------------------------------------------------------------------------

    @Test
    void embedRowsIsExact() {
        // {count, vocab, width}: one token, a short batch, 8 x 2048 tokens of hidden 2048 (the 1.9 B model's)
        for (int[] s : new int[][]{{1, 5, 2048}, {300, 1000, 4096}, {16_384, 8192, 2048}}) {
            int count = s[0], vocab = s[1], width = s[2];
            for (boolean bf16 : new boolean[]{true, false}) {
                for (float m : new float[]{1f, 12f}) {
                    Random r = random();
                    int[] ids = new int[count];
                    for (int i = 0; i < count; i++) ids[i] = r.nextInt(vocab);
                    ids[0] = vocab - 1;
                    Pair table = bf16 ? bf16(r, vocab * width) : gaussian(r, (long) vocab * width);
                    Pair idx = i32(ids), dst = output(4L * (count + 1) * width);
                    gpu.embedRows(table.gpu(), bf16, idx.gpu(), count, width, m, dst.gpu(), 4L * width);
                    host.embedRows(table.host(), bf16, idx.host(), count, width, m, dst.host(), 4L * width);
                    assertExactF32("embedRows " + count + " of " + vocab + "x" + width + (bf16 ? " bf16" : " f32")
                            + " m " + m, dst, (long) (count + 1) * width);
                }
            }
        }
    }

    // ---- greedy next tokens -------------------------------------------------------------------------------------

    /**
     * greedy_tokens against HostOps (Sampler.argmax), ids and flags exact: ScoreRows' rows (ties at 40, a NaN before an
     * infinity, −infinity) plus a row of equal values and a tie across two threads' quads, on Qwen3's vocabulary
     * (16-byte reads), odd widths and a misaligned start (a float at a time), divided or not.
     */
    @Test
    void greedyTokensMatchHostOps() {
        for (int vocab : new int[]{151936, 151935, 1001, 257, 1000}) {
            for (int misaligned = 0; misaligned <= (vocab == 151936 ? 1 : 0); misaligned++) {
                io.moeprune.gpu.ops.ScoreRows in = io.moeprune.gpu.ops.ScoreRows.random(vocab, 32, vocab);
                float[] logits = Arrays.copyOf(in.logits(), in.logits().length + misaligned);
                if (misaligned == 1) System.arraycopy(in.logits(), 0, logits, 1, in.logits().length);
                int at = misaligned;   // row r starts at float at + r·vocab
                Arrays.fill(logits, at + 2 * vocab, at + 3 * vocab, 1.5f);       // all equal: index 0
                // A tie between thread 255's first quad and thread 0's second (1020…1023, 1024…1027): the lower.
                int lo = vocab >= 1028 ? 1021 : 5, hi = vocab >= 1028 ? 1027 : vocab - 2;
                logits[at + 7 * vocab + hi] = 99f;
                logits[at + 7 * vocab + lo] = 99f;
                Pair rows = f32(logits);
                for (float divisor : new float[]{1f, 8f}) {
                    Pair ids = output(8L * in.rows());
                    for (boolean onGpu : new boolean[]{true, false}) {
                        DeviceOps ops = onGpu ? gpu : host;
                        DeviceBuffer src = onGpu ? rows.gpu() : rows.host(), out = onGpu ? ids.gpu() : ids.host();
                        ops.greedyTokens(new DeviceBuffer(src.address() + 4L * at, src.bytes() - 4L * at), in.rows(),
                                vocab, divisor, out, new DeviceBuffer(out.address() + 4L * in.rows(), 4L * in.rows()));
                    }
                    int[] g, h;
                    try (Arena a = Arena.ofConfined()) {
                        g = read(gpu, ids.gpu(), 8L * in.rows(), a).toArray(JAVA_INT);
                        h = read(host, ids.host(), 8L * in.rows(), a).toArray(JAVA_INT);
                    }
                    String check = "greedyTokens " + in.rows() + "x" + vocab + (at > 0 ? " misaligned" : "")
                            + " / " + divisor;
                    int differ = 0;
                    for (int i = 0; i < g.length; i++) if (g[i] != h[i]) differ++;
                    System.out.printf("%-58s %d of %d ids and flags differ (limit 0)%n", check, differ, g.length);
                    assertArrayEquals(h, g, check);
                    assertEquals(0, h[2], check + ": all equal");
                    assertEquals(lo, h[7], check + ": the tie across threads");
                    assertEquals(-1, h[io.moeprune.gpu.ops.ScoreRows.NAN_ROW], check + ": the NaN row");
                    assertEquals(2 * (vocab - 17) + 1, h[in.rows() + io.moeprune.gpu.ops.ScoreRows.NAN_ROW], check);
                }
            }
        }
    }

    // ---- the MoE block ------------------------------------------------------------------------------------------

    @Test
    void gatherRowsIsExact() {
        for (int[] s : new int[][]{{1, 1, 2048}, {300, 37, 4096}, {1200, 300, 7168}}) {
            int count = s[0], srcRows = s[1], width = s[2];
            Random r = random();
            int[] index = new int[count];
            for (int i = 0; i < count; i++) index[i] = r.nextInt(srcRows);
            Pair src = gaussian(r, (long) srcRows * width), idx = i32(index), dst = output(2L * count * width);
            gpu.gatherRows(src.gpu(), idx.gpu(), dst.gpu(), count, width);
            host.gatherRows(src.host(), idx.host(), dst.host(), count, width);
            assertBf16Exact("gatherRows " + count + " of " + srcRows + "x" + width, dst, (long) count * width);
        }
    }

    /** The copy from BF16 rows: 16 bytes at a time (widths of 8s), else 2 (13); the same bits as HostOps's. */
    @Test
    void gatherRowsBf16IsExact() {
        for (int[] s : new int[][]{{1, 1, 2048}, {300, 37, 4096}, {1200, 300, 7168}, {77, 9, 13}}) {
            int count = s[0], srcRows = s[1], width = s[2];
            Random r = random();
            int[] index = new int[count];
            for (int i = 0; i < count; i++) index[i] = r.nextInt(srcRows);
            Pair src = bf16(r, srcRows * width), idx = i32(index), dst = output(2L * count * width);
            gpu.gatherRowsBf16(src.gpu(), idx.gpu(), dst.gpu(), count, width);
            host.gatherRowsBf16(src.host(), idx.host(), dst.host(), count, width);
            assertBf16Exact("gatherRowsBf16 " + count + " of " + srcRows + "x" + width, dst, (long) count * width);
        }
    }

    @Test
    void combineSlotsAndSlotNormsMatch() {
        for (int[] s : new int[][]{{1, 4, 2048}, {37, 8, 4096}, {300, 4, 7168}, {5, 1, 768}}) {
            int n = s[0], k = s[1], width = s[2];
            Random r = random();
            int[] slotRow = new int[n * k];
            float[] weight = new float[n * k];
            randomSlots(r, slotRow, weight);
            Pair rows = gaussian(r, (long) n * k * width), sr = i32(slotRow), w = f32(weight);
            Pair out = output(4L * n * width), norms = output(4L * n * k);
            gpu.combineSlots(rows.gpu(), sr.gpu(), w.gpu(), out.gpu(), n, k, width);
            host.combineSlots(rows.host(), sr.host(), w.host(), out.host(), n, k, width);
            assertExactF32("combineSlots " + n + "x" + k + "x" + width, out, (long) n * width);
            gpu.slotNorms(rows.gpu(), sr.gpu(), norms.gpu(), n * k, width);
            host.slotNorms(rows.host(), sr.host(), norms.host(), n * k, width);
            assertClose("slotNorms " + n * k + "x" + width, norms, (long) n * k, 1e-6);
            // The BF16 rows of -Dmoeprune.expertOutputs=bf16 (the _bf16 kernels).
            Pair rowsBf16 = bf16(r, n * k * width);
            gpu.combineSlots(rowsBf16.gpu(), sr.gpu(), w.gpu(), out.gpu(), n, k, width, ExpertOutputs.BF16);
            host.combineSlots(rowsBf16.host(), sr.host(), w.host(), out.host(), n, k, width, ExpertOutputs.BF16);
            assertExactF32("combineSlots BF16 rows " + n + "x" + k + "x" + width, out, (long) n * width);
            gpu.slotNorms(rowsBf16.gpu(), sr.gpu(), norms.gpu(), n * k, width, ExpertOutputs.BF16);
            host.slotNorms(rowsBf16.host(), sr.host(), norms.host(), n * k, width, ExpertOutputs.BF16);
            assertClose("slotNorms BF16 rows " + n * k + "x" + width, norms, (long) n * k, 1e-6);
        }
    }

    /** Slot rows into n·k rows, one in six masked (-1), and weights in [0, 1). */
    private static void randomSlots(Random r, int[] slotRow, float[] weight) {
        for (int i = 0; i < slotRow.length; i++) {
            slotRow[i] = r.nextInt(6) == 0 ? -1 : r.nextInt(slotRow.length);
            weight[i] = r.nextFloat();
        }
    }

    /** The fused combine and norms (-Dmoeprune.fusedSlotNorms): combine as combine_slots, norms as slot_norms. */
    @Test
    void combineSlotsWithNormsMatch() {
        for (int[] s : new int[][]{{1, 4, 2048}, {37, 8, 4096}, {300, 4, 7168}, {5, 1, 768}, {3, 12, 1000}}) {
            int n = s[0], k = s[1], width = s[2];
            Random r = random();
            int[] slotRow = new int[n * k];
            float[] weight = new float[n * k];
            randomSlots(r, slotRow, weight);
            Pair sr = i32(slotRow), w = f32(weight);
            Pair out = output(4L * n * width), norms = output(4L * n * k);
            for (ExpertOutputs type : ExpertOutputs.values()) {
                Pair rows = type == ExpertOutputs.BF16 ? bf16(r, n * k * width) : gaussian(r, (long) n * k * width);
                String what = " " + type + " rows " + n + "x" + k + "x" + width;
                gpu.combineSlotsWithNorms(rows.gpu(), sr.gpu(), w.gpu(), out.gpu(), n, k, width, norms.gpu(), type);
                host.combineSlotsWithNorms(rows.host(), sr.host(), w.host(), out.host(), n, k, width, norms.host(),
                        type);
                assertExactF32("combineSlotsWithNorms" + what, out, (long) n * width);
                assertClose("combineSlotsWithNorms norms" + what, norms, (long) n * k, 1e-6);
            }
        }
    }

    /**
     * The fused MoE epilogue (-Dmoeprune.fusedEpilogue) against HostOps's unfused sequence: x bit for bit (any NaN
     * matching any NaN), the finite flag exact, the norms and turns within 1e-6 (their double sums in another order),
     * the scratch untouched (the kernel writes no combined rows); F32 and BF16 rows, masked slots, k past the eight
     * slots fused in registers, widths not multiples of 32 (nor, once, of 4), with and without shared rows, m 1 and
     * 0.22, watched or not, and rows holding a NaN and an infinity; each for both kernels of
     * {@code -Dmoeprune.epilogueKernel} (vector: k over 8 and the width of 1002 run the scalar fallback).
     */
    @Test
    void moeEpilogueMatches() {
        int[][] shapes = {{1, 4, 2048}, {37, 8, 4096}, {300, 4, 7168}, {5, 1, 768}, {3, 12, 1000}, {64, 8, 2048},
                {7, 4, 1002}};
        try {
            for (CudaOps.EpilogueKernel kernel : CudaOps.EpilogueKernel.values()) {
                gpu.epilogueKernel(kernel);
                for (int[] s : shapes) {
                    int n = s[0], k = s[1], width = s[2];
                    for (ExpertOutputs type : ExpertOutputs.values()) {
                        for (int variant = 0; variant < 4; variant++) {
                            boolean shared = (variant & 1) != 0, watched = (variant & 2) != 0;
                            float m = variant == 1 ? 0.22f : 1f;
                            moeEpilogueCase(kernel, n, k, width, type, shared, watched, variant == 3, m);
                        }
                    }
                }
            }
        } finally {
            gpu.epilogueKernel(CudaOps.EpilogueKernel.SCALAR);
        }
    }

    private void moeEpilogueCase(CudaOps.EpilogueKernel kernel, int n, int k, int width, ExpertOutputs type,
                                 boolean shared, boolean watched, boolean nonFinite, float m) {
        Random r = random();
        int slots = n * k;
        long count = (long) n * width;
        int[] slotRow = new int[slots];
        float[] weight = new float[slots];
        randomSlots(r, slotRow, weight);
        float[] rowValues = new float[slots * width];
        for (int i = 0; i < rowValues.length; i++) rowValues[i] = (float) r.nextGaussian();
        if (nonFinite) {   // in rows that the first and the last slot read
            slotRow[0] = 0;
            slotRow[slots - 1] = slots - 1;
            rowValues[width / 2] = Float.NaN;
            rowValues[(slots - 1) * width + 3] = Float.NEGATIVE_INFINITY;
        }
        Pair rows;
        if (type == ExpertOutputs.BF16) {
            short[] bits = new short[rowValues.length];
            for (int i = 0; i < bits.length; i++) bits[i] = GpuTestSupport.bf16(rowValues[i]);
            try (Arena a = Arena.ofConfined()) {
                rows = input(a.allocateFrom(JAVA_SHORT, bits));
            }
        } else {
            rows = f32(rowValues);
        }
        Pair sr = i32(slotRow), w = f32(weight), x = gaussian(r, count), flags = i32(new int[3]);
        Pair sharedRows = shared ? gaussian(r, count) : null;
        Pair norms = output(4L * slots), turns = output(4L * n), scratch = output(4 * count);
        String what = " " + kernel.name().toLowerCase(Locale.ROOT) + " " + type + " " + n + "x" + k + "x" + width
                + (shared ? " shared" : "") + (watched ? " watched" : "") + (nonFinite ? " non-finite" : "")
                + " m " + m;
        gpu.moeEpilogue(rows.gpu(), sr.gpu(), w.gpu(), n, k, width, type, shared ? sharedRows.gpu() : null, x.gpu(),
                m, watched ? norms.gpu() : null, watched ? turns.gpu() : null, flags.gpu(), 1, scratch.gpu());
        host.moeEpilogue(rows.host(), sr.host(), w.host(), n, k, width, type, shared ? sharedRows.host() : null,
                x.host(), m, watched ? norms.host() : null, watched ? turns.host() : null, flags.host(), 1,
                scratch.host());
        float[] g = floats(x, true, count), h = floats(x, false, count);
        int differ = 0;
        for (int i = 0; i < g.length; i++) {
            boolean bothNaN = Float.isNaN(g[i]) && Float.isNaN(h[i]);
            if (Float.floatToRawIntBits(g[i]) != Float.floatToRawIntBits(h[i]) && !bothNaN) differ++;
        }
        System.out.printf("%-66s %d of %d F32 values differ (limit 0)%n", "moeEpilogue x" + what, differ, count);
        assertEquals(0, differ, "moeEpilogue x" + what);
        int flag = Float.floatToRawIntBits(floats(flags, true, 3)[1]);
        assertEquals(Float.floatToRawIntBits(floats(flags, false, 3)[1]), flag, "moeEpilogue flag" + what);
        assertEquals(nonFinite, flag != 0, "moeEpilogue flag" + what);
        int untouched = 0;
        for (float v : floats(scratch, true, count)) if (Float.floatToRawIntBits(v) == 0x7F7F7F7F) untouched++;
        assertEquals(count, untouched, "moeEpilogue wrote its scratch" + what);
        if (!watched) return;
        assertCloseWhereFinite("moeEpilogue norms" + what, floats(norms, true, slots), floats(norms, false, slots));
        assertCloseWhereFinite("moeEpilogue turns" + what, floats(turns, true, n), floats(turns, false, n));
    }

    /**
     * Within 1e-6 (relative L2) where HostOps's value is finite; where it is not (a non-finite row's norm or turn),
     * the GPU's is not finite either, or, for a NaN turn, 0 (CUDA's fmax(0, NaN), as the turns kernel's).
     */
    private static void assertCloseWhereFinite(String check, float[] g, float[] h) {
        int finite = 0;
        for (float v : h) if (Float.isFinite(v)) finite++;
        float[] gf = new float[finite], hf = new float[finite];
        for (int i = 0, at = 0; i < h.length; i++) {
            if (Float.isFinite(h[i])) {
                gf[at] = g[i];
                hf[at++] = h[i];
            } else {
                assertTrue(!Float.isFinite(g[i]) || (Float.isNaN(h[i]) && g[i] == 0f), check + " [" + i + "]: " + g[i]
                        + " for " + h[i]);
            }
        }
        assertCloseValues(check, gf, hf, 1e-6);
    }

    @Test
    void turnsMatchTheDoubleSums() {
        for (int[] s : new int[][]{{1, 2048}, {37, 4096}, {300, 7168}}) {
            int n = s[0], width = s[1];
            Random r = random();
            float[] hv = new float[n * width], rv = new float[n * width];
            for (int i = 0; i < hv.length; i++) {
                hv[i] = (float) r.nextGaussian();
                rv[i] = (float) (r.nextGaussian() * (i / width % 3 == 0 ? 0.01 : 1));   // small turns too
            }
            if (n > 2) for (int i = 0; i < width; i++) hv[width + i] = 0;             // a zero vector turns 0
            Pair h = f32(hv), rr = f32(rv), turn = output(4L * n);
            gpu.turns(h.gpu(), rr.gpu(), turn.gpu(), n, width);
            host.turns(h.host(), rr.host(), turn.host(), n, width);
            float[] g = floats(turn, true, n), want = floats(turn, false, n);
            double worst = 0;
            for (int t = 0; t < n; t++) worst = Math.max(worst, Math.abs(g[t] - want[t]));
            System.out.printf("%-58s max abs.err %.2e (limit 1e-6)%n", "turns " + n + "x" + width, worst);
            assertTrue(worst < 1e-6, "turns: " + worst);
        }
    }

    // ---- memory and fences --------------------------------------------------------------------------------------

    @Test
    void zeroCopiesAndFencesOrderTheTwoStreams() {
        Random r = random();
        int count = 1 << 20;
        Pair x = gaussian(r, count);
        gpu.zero(x.gpu(), 4L * 100, 4L * 1000);
        host.zero(x.host(), 4L * 100, 4L * 1000);
        assertExactF32("zero 1000 of " + count, x, count);
        // A staging round through pinned memory on the copy stream, fenced both ways, many times (the pool reuses
        // events): the compute stream must see each upload whole.
        MemorySegment pinned = gpu.pinnedHost(4L * count);
        DeviceBuffer dst = gpu.alloc(4L * count, "a staged weight");
        DeviceBuffer acc = gpu.alloc(4L * count, "a sum");
        try {
            gpu.zero(acc, 0, 4L * count);
            for (int round = 1; round <= 20; round++) {
                long computeDone = gpu.computeFence();
                gpu.copyWaits(computeDone);            // the previous round's add has read dst
                for (int i = 0; i < count; i++) pinned.setAtIndex(JAVA_FLOAT, i, round);
                gpu.uploadOnCopyStream(pinned, dst, 0);
                long copied = gpu.copyFence();
                gpu.computeWaits(copied);
                gpu.addScaled(acc, 0, dst, 0, count, 1f);
                gpu.hostWaits(gpu.computeFence());     // before the host refills the staging memory
            }
            float[] sum;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment back = a.allocate(4L * count);
                gpu.download(acc, 0, back);
                sum = back.toArray(JAVA_FLOAT);
            }
            float[] want = new float[count];
            java.util.Arrays.fill(want, 210f);
            System.out.printf("%-58s %s%n", "fences over 20 staged uploads", sum[count - 1] == 210f ? "ordered" : "RACE");
            assertArrayEquals(want, sum, 0f);
            assertTrue(gpu.allocatedBytes() >= 8L * count && gpu.peakBytes() >= gpu.allocatedBytes());
        } finally {
            gpu.free(dst);
            gpu.free(acc);
        }
        gpu.synchronize();
    }
    /**
     * The caching allocator: a freed buffer and a released pinned buffer come back for a request of their size
     * without a new cudaMalloc; a queued download into pinned memory and an upload of it queued after it on the
     * compute stream (the residual rows of a chunk that waits in host memory) carry the bytes without a host wait.
     */
    @Test
    void freedMemoryIsReusedAndAQueuedDownloadIsOrderedBeforeAnUpload() {
        int count = 1 << 20;
        Pair x = gaussian(random(), count);
        DeviceBuffer a = gpu.alloc(4L * count, "a");
        long address = a.address(), made = gpu.device().deviceAllocations();
        gpu.free(a);
        int fits = count - 25;   // a smaller request (100 bytes less) takes the freed buffer
        DeviceBuffer again = gpu.alloc(4L * fits, "again");
        assertEquals(address, again.address());
        assertEquals(made, gpu.device().deviceAllocations());
        MemorySegment pinned = gpu.pinnedHost(4L * count);
        try {
            gpu.downloadQueued(x.gpu(), 0, pinned);
            gpu.upload(pinned.asSlice(0, 4L * fits), again, 0);
            float[] back;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment h = arena.allocate(4L * fits);
                gpu.download(again, 0, h);
                back = h.toArray(JAVA_FLOAT);
            }
            assertArrayEquals(Arrays.copyOf(floats(x, false, count), fits), back, 0f);
        } finally {
            gpu.free(again);
            gpu.releasePinned(pinned);
        }
        MemorySegment reused = gpu.pinnedHost(4L * count);
        assertEquals(pinned.address(), reused.address());
        gpu.releasePinned(reused);
        gpu.synchronize();
    }

    /**
     * Timing marks (the timed GPU pass's copy and compute times): a 256 MiB upload from pinned memory on the copy stream
     * takes a time that means a PCIe bandwidth (1 to 100 GB/s), and a kernel between two compute-stream marks takes
     * some time.
     */
    @Test
    void timingMarksMeasureACopyAndAKernel() {
        long bytes = 256L << 20;
        MemorySegment pinned = gpu.pinnedHost(bytes);
        DeviceBuffer dst = gpu.alloc(bytes, "a timed upload");
        try {
            long from = gpu.timingMark(true);
            gpu.uploadOnCopyStream(pinned, dst, 0);
            long to = gpu.timingMark(true);
            double seconds = gpu.elapsedSeconds(from, to);
            double gbPerSecond = bytes / seconds / 1e9;
            System.out.printf("%-58s %.2f GB/s%n", "timed 256 MiB upload from pinned memory", gbPerSecond);
            assertTrue(gbPerSecond > 1 && gbPerSecond < 100, gbPerSecond + " GB/s");
            gpu.synchronize();
            long k0 = gpu.timingMark(false);
            gpu.addScaled(dst, 0, dst, 0, bytes / 4, 1f);
            long k1 = gpu.timingMark(false);
            double kernel = gpu.elapsedSeconds(k0, k1);
            assertTrue(kernel > 0 && kernel < 1, kernel + " s");
        } finally {
            gpu.free(dst);
        }
        gpu.synchronize();
    }

    /**
     * The download stream (the observers' copies): 8 rounds of a kernel writing x, a compute fence the download stream
     * waits for, x's 16 MiB copied into a pinned region of the round on the download stream, and the compute stream
     * waiting for the copy's fence before the next round's kernel overwrites x; each region holds its round's values
     * whole (a missing wait either way shows up as another round's values), read after its fence only. A timed copy on
     * the download stream means a PCIe bandwidth (1 to 100 GB/s).
     */
    @Test
    void theDownloadStreamIsFencedBothWays() {
        int count = 1 << 22, rounds = 8;
        DeviceBuffer x = gpu.alloc(4L * count, "an observed buffer");
        DeviceBuffer ones = gpu.alloc(4L * count, "ones");
        List<MemorySegment> regions = new ArrayList<>();
        long[] fences = new long[rounds];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment one = a.allocate(4L * count);
            for (int i = 0; i < count; i++) one.setAtIndex(JAVA_FLOAT, i, 1f);
            gpu.upload(one, ones, 0);
            gpu.zero(x, 0, 4L * count);
            long[] marks = new long[2];
            for (int round = 0; round < rounds; round++) {
                gpu.addScaled(x, 0, ones, 0, count, 1f);       // x = round + 1
                gpu.downloadWaits(gpu.computeFence());          // after the kernel that wrote x
                MemorySegment region = gpu.pinnedHost(4L * count);
                regions.add(region);
                if (round == 0) marks[0] = gpu.downloadTimingMark();
                gpu.downloadOnDownloadStream(x, 0, region);
                if (round == 0) marks[1] = gpu.downloadTimingMark();
                fences[round] = gpu.downloadFence();
                gpu.computeWaits(fences[round]);                // before the next round overwrites x
            }
            int wrong = 0;
            for (int round = rounds - 1; round >= 0; round--) {   // the last first: the earlier ones passed by then
                gpu.hostWaits(fences[round]);
                MemorySegment region = regions.get(round);
                for (int i = 0; i < count; i++) if (region.getAtIndex(JAVA_FLOAT, i) != round + 1) wrong++;
            }
            double gbPerSecond = 4.0 * count / gpu.elapsedSeconds(marks[0], marks[1]) / 1e9;
            System.out.printf("%-58s %s, %.2f GB/s%n", "download stream, 8 fenced 16 MiB copies",
                    wrong == 0 ? "ordered" : "RACE (" + wrong + " values)", gbPerSecond);
            assertEquals(0, wrong, "values of another round");
            assertTrue(gbPerSecond > 1 && gbPerSecond < 100, gbPerSecond + " GB/s");
        } finally {
            gpu.synchronize();
            for (MemorySegment r : regions) gpu.releasePinned(r);
            gpu.free(x);
            gpu.free(ones);
        }
    }
}
