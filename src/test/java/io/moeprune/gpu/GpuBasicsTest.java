package io.moeprune.gpu;

import io.moeprune.gpu.cuda.Cublas;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.Random;

import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static java.lang.foreign.ValueLayout.JAVA_SHORT;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA bindings on a real device: memory and copies, an NVRTC kernel, cuBLAS products (plain, strided batched,
 * batched, grouped) against the same products on the CPU from the same BF16 inputs, and the {@code --gpu-memory} bound.
 */
class GpuBasicsTest {
    private static GpuDevice gpu;

    @BeforeAll
    static void open() {
        gpu = GpuTestSupport.openOrSkip(2L << 30);
        System.out.println("GPU: " + gpu.info().describe());
    }

    @AfterAll
    static void close() {
        if (gpu != null) gpu.close();
    }

    private static final String AXPY = """
            extern "C" __global__ void axpy(float a, const float* x, float* y, int n) {
                int i = blockIdx.x * blockDim.x + threadIdx.x;
                if (i < n) y[i] = __fadd_rn(y[i], __fmul_rn(a, x[i]));   // unfused, as Java computes it
            }
            """;

    @Test
    void copiesAndAKernelRoundTrip() {
        int n = 100_003;
        float[] x = new float[n], y = new float[n];
        Random r = new Random(1);
        for (int i = 0; i < n; i++) {
            x[i] = r.nextFloat() - 0.5f;
            y[i] = r.nextFloat();
        }
        DeviceBuffer dx = gpu.alloc(4L * n, "x"), dy = gpu.alloc(4L * n, "y");
        try (Arena a = Arena.ofConfined()) {
            gpu.upload(a.allocateFrom(JAVA_FLOAT, x), dx, 0, gpu.stream());
            gpu.upload(a.allocateFrom(JAVA_FLOAT, y), dy, 0, gpu.stream());
            gpu.module("test-axpy", AXPY).kernel("axpy").launch((n + 255) / 256, 256, 0, 2.5f, dx, dy, n);
            MemorySegment back = a.allocate(JAVA_FLOAT, n);
            gpu.download(dy, 0, back, gpu.stream());
            gpu.synchronize();
            float[] got = back.toArray(JAVA_FLOAT);
            float[] want = new float[n];
            for (int i = 0; i < n; i++) want[i] = y[i] + 2.5f * x[i];
            assertArrayEquals(want, got, 0f);
        } finally {
            gpu.free(dx);
            gpu.free(dy);
        }
    }

    @Test
    void bf16LinearMatchesTheCpu() {
        int n = 77, out = 384, in = 512;
        short[] w = randomBf16(out * in, 2), x = randomBf16(n * in, 3);
        float[] want = cpuLinear(w, x, n, out, in);
        DeviceBuffer dw = gpu.alloc(2L * w.length, "w"), dx = gpu.alloc(2L * x.length, "x"),
                dy = gpu.alloc(4L * n * out, "y");
        try (Arena a = Arena.ofConfined()) {
            gpu.upload(a.allocateFrom(JAVA_SHORT, w), dw, 0, gpu.stream());
            gpu.upload(a.allocateFrom(JAVA_SHORT, x), dx, 0, gpu.stream());
            gpu.cublas().linear(gpu.blas(), n, out, in, 1f, dw.address(), Cublas.R_16BF, dx.address(), Cublas.R_16BF,
                    0f, dy.address(), Cublas.R_32F, out);
            MemorySegment back = a.allocate(JAVA_FLOAT, (long) n * out);
            gpu.download(dy, 0, back, gpu.stream());
            gpu.synchronize();
            double err = GpuTestSupport.relativeError(back.toArray(JAVA_FLOAT), want);
            System.out.println("cuBLAS BF16 linear, relative error " + err);
            assertTrue(err < 1e-5, "relative error " + err);
        } finally {
            gpu.free(dw);
            gpu.free(dx);
            gpu.free(dy);
        }
    }

    @Test
    void batchedLinearMatchesEachExpertAlone() {
        int experts = 4, rows = 24, out = 256, in = 384;
        DeviceBuffer dw = gpu.alloc(2L * experts * out * in, "w"), dx = gpu.alloc(2L * experts * rows * in, "x"),
                dy = gpu.alloc(4L * experts * rows * out, "y"), ptrs = gpu.alloc(3L * 8 * experts, "pointers");
        try (Arena a = Arena.ofConfined()) {
            short[] w = randomBf16(experts * out * in, 30), x = randomBf16(experts * rows * in, 31);
            gpu.upload(a.allocateFrom(JAVA_SHORT, w), dw, 0, gpu.stream());
            gpu.upload(a.allocateFrom(JAVA_SHORT, x), dx, 0, gpu.stream());
            MemorySegment p = a.allocate(JAVA_LONG, 3L * experts);
            for (int e = 0; e < experts; e++) {
                p.setAtIndex(JAVA_LONG, e, dw.address() + 2L * e * out * in);
                p.setAtIndex(JAVA_LONG, experts + e, dx.address() + 2L * e * rows * in);
                p.setAtIndex(JAVA_LONG, 2L * experts + e, dy.address() + 4L * e * rows * out);
            }
            gpu.upload(p, ptrs, 0, gpu.stream());
            boolean batched = gpu.cublas().batchedLinear(gpu.blas(), experts, rows, out, in, ptrs.address(),
                    Cublas.R_16BF, ptrs.address() + 8L * experts, Cublas.R_16BF, ptrs.address() + 16L * experts,
                    Cublas.R_32F);
            System.out.println("cuBLAS batched BF16→F32 products supported: " + batched);
            assertTrue(batched, "cublasGemmBatchedEx refused BF16 inputs with F32 outputs");
            MemorySegment back = a.allocate(JAVA_FLOAT, (long) experts * rows * out);
            gpu.download(dy, 0, back, gpu.stream());
            gpu.synchronize();
            float[] all = back.toArray(JAVA_FLOAT);
            for (int e = 0; e < experts; e++) {
                short[] we = java.util.Arrays.copyOfRange(w, e * out * in, (e + 1) * out * in);
                short[] xe = java.util.Arrays.copyOfRange(x, e * rows * in, (e + 1) * rows * in);
                float[] ye = java.util.Arrays.copyOfRange(all, e * rows * out, (e + 1) * rows * out);
                double err = GpuTestSupport.relativeError(ye, cpuLinear(we, xe, rows, out, in));
                assertTrue(err < 1e-5, "expert " + e + " relative error " + err);
            }
        } finally {
            for (DeviceBuffer b : new DeviceBuffer[]{dw, dx, dy, ptrs}) gpu.free(b);
        }
    }

    @Test
    void groupedLinearMatchesEachExpertAlone() {
        int experts = 5, out = 256, in = 384;
        int[] rows = {7, 1, 33, 64, 2};
        short[][] w = new short[experts][], x = new short[experts][];
        DeviceBuffer[] dw = new DeviceBuffer[experts], dx = new DeviceBuffer[experts], dy = new DeviceBuffer[experts];
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pw = a.allocate(JAVA_LONG, experts), px = a.allocate(JAVA_LONG, experts),
                    py = a.allocate(JAVA_LONG, experts);
            for (int e = 0; e < experts; e++) {
                w[e] = randomBf16(out * in, 10 + e);
                x[e] = randomBf16(rows[e] * in, 20 + e);
                dw[e] = gpu.alloc(2L * w[e].length, "w");
                dx[e] = gpu.alloc(2L * x[e].length, "x");
                dy[e] = gpu.alloc(4L * rows[e] * out, "y");
                gpu.upload(a.allocateFrom(JAVA_SHORT, w[e]), dw[e], 0, gpu.stream());
                gpu.upload(a.allocateFrom(JAVA_SHORT, x[e]), dx[e], 0, gpu.stream());
                pw.setAtIndex(JAVA_LONG, e, dw[e].address());
                px.setAtIndex(JAVA_LONG, e, dx[e].address());
                py.setAtIndex(JAVA_LONG, e, dy[e].address());
            }
            DeviceBuffer ptrs = gpu.alloc(3L * 8 * experts, "pointers");
            gpu.upload(pw, ptrs, 0, gpu.stream());
            gpu.upload(px, ptrs, 8L * experts, gpu.stream());
            gpu.upload(py, ptrs, 16L * experts, gpu.stream());
            boolean grouped = gpu.cublas().groupedLinear(gpu.blas(), experts, rows, out, in, ptrs.address(),
                    Cublas.R_16BF, ptrs.address() + 8L * experts, Cublas.R_16BF, ptrs.address() + 16L * experts,
                    Cublas.R_32F);
            System.out.println("cuBLAS grouped BF16→F32 products supported: " + grouped + " (has grouped: "
                    + gpu.cublas().hasGrouped() + ")");
            if (!grouped) {
                grouped = gpu.cublas().groupedLinear(gpu.blas(), experts, rows, out, in, ptrs.address(),
                        Cublas.R_16BF, ptrs.address() + 8L * experts, Cublas.R_16BF, ptrs.address() + 16L * experts,
                        Cublas.R_16BF);
                System.out.println("cuBLAS grouped BF16→BF16 products supported: " + grouped);
                return;
            }
            for (int e = 0; e < experts; e++) {
                MemorySegment back = a.allocate(JAVA_FLOAT, (long) rows[e] * out);
                gpu.download(dy[e], 0, back, gpu.stream());
                gpu.synchronize();
                double err = GpuTestSupport.relativeError(back.toArray(JAVA_FLOAT), cpuLinear(w[e], x[e], rows[e], out, in));
                assertTrue(err < 1e-5, "expert " + e + " relative error " + err);
            }
            gpu.free(ptrs);
        } finally {
            for (int e = 0; e < experts; e++) {
                gpu.free(dw[e]);
                gpu.free(dx[e]);
                gpu.free(dy[e]);
            }
        }
    }

    @Test
    void theMemoryBoundIsAOneLineError() {
        var e = assertThrows(io.moeprune.MoepruneException.class, () -> gpu.alloc(3L << 30, "a test buffer"));
        assertTrue(e.getMessage().startsWith("--gpu-memory "), e.getMessage());
        assertTrue(e.getMessage().contains("a test buffer"), e.getMessage());
        assertEquals(2, e.exitCode());
    }

    static short[] randomBf16(int count, long seed) {
        Random r = new Random(seed);
        short[] s = new short[count];
        for (int i = 0; i < count; i++) s[i] = GpuTestSupport.bf16((float) r.nextGaussian());
        return s;
    }

    /** y[n, out] = x·Wᵀ in double from the BF16 values. */
    static float[] cpuLinear(short[] w, short[] x, int n, int out, int in) {
        float[] y = new float[n * out];
        for (int t = 0; t < n; t++) {
            for (int o = 0; o < out; o++) {
                double s = 0;
                for (int i = 0; i < in; i++) {
                    s += (double) GpuTestSupport.fromBf16(w[o * in + i]) * GpuTestSupport.fromBf16(x[t * in + i]);
                }
                y[t * out + o] = (float) s;
            }
        }
        return y;
    }
}
