package io.moeprune.kernels;

import io.moeprune.safetensors.Fp8;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Plain-Java kernels: the reference the vector path is tested against, and the fallback. */
public final class ScalarKernels implements Kernels {
    public static final ScalarKernels INSTANCE = new ScalarKernels();
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final int BLOCK = Weights.SCALE_BLOCK;

    private ScalarKernels() {
    }

    @Override
    public String description() {
        return "scalar";
    }

    static float rowDot(Weights w, int r, float[] x, int xOff) {
        MemorySegment d = w.data();
        int cols = w.cols();
        long base = (long) r * cols;
        float sum = 0f;
        switch (w.dtype()) {
            case F32 -> {
                for (int c = 0; c < cols; c++) sum += d.get(FLOAT, (base + c) * 4) * x[xOff + c];
            }
            case BF16 -> {
                for (int c = 0; c < cols; c++) {
                    sum += Float.intBitsToFloat((d.get(SHORT, (base + c) * 2) & 0xffff) << 16) * x[xOff + c];
                }
            }
            case F16 -> {
                for (int c = 0; c < cols; c++) sum += Float.float16ToFloat(d.get(SHORT, (base + c) * 2)) * x[xOff + c];
            }
            case F8_E4M3 -> {
                // One partial sum per 128-column block, scaled once: the same grouping the vector path uses.
                for (int c0 = 0; c0 < cols; c0 += BLOCK) {
                    int end = Math.min(cols, c0 + BLOCK);
                    float part = 0f;
                    for (int c = c0; c < end; c++) {
                        part += Fp8.e4m3ToFloat(d.get(ValueLayout.JAVA_BYTE, base + c)) * x[xOff + c];
                    }
                    sum += part * w.scaleAt(r, c0);
                }
            }
            default -> throw new UnsupportedOperationException("matVec on " + w.dtype() + " weights");
        }
        return sum;
    }

    @Override
    public void matVec(Weights w, float[] x, int xOff, float[] out, int outOff) {
        Parallel.forRange(w.rows(), (long) w.cols() * w.dtype().byteSize(), (from, to) -> {
            for (int r = from; r < to; r++) out[outOff + r] = rowDot(w, r, x, xOff);
        });
    }

    @Override
    public void matMul(Weights w, float[] x, int n, float[] out) {
        int rows = w.rows(), cols = w.cols();
        // Row-outer: a weight row is read from memory once and stays in cache for the n inputs.
        Parallel.forRange(rows, (long) cols * n * 2, (from, to) -> {
            for (int r = from; r < to; r++) {
                for (int i = 0; i < n; i++) out[i * rows + r] = rowDot(w, r, x, i * cols);
            }
        });
    }

    @Override
    public int batchStride(int n) {
        return Math.max(1, n);
    }

    @Override
    public void matMulT(Weights w, int rowFrom, int rowTo, float[] xT, int n, int stride, float[] yT, int yOff) {
        int cols = w.cols();
        float[] row = new float[cols];
        for (int r = rowFrom; r < rowTo; r++) {
            for (int c = 0; c < cols; c++) row[c] = element(w, r, c);
            int o = yOff + (r - rowFrom) * stride;
            for (int i = 0; i < n; i++) {
                float sum = 0f;
                for (int c = 0; c < cols; c++) sum += row[c] * xT[c * stride + i];
                yT[o + i] = sum;
            }
        }
    }

    /** W[r, c] as a float (scaled, for block-scaled FP8). */
    static float element(Weights w, int r, int c) {
        MemorySegment d = w.data();
        long i = (long) r * w.cols() + c;
        return switch (w.dtype()) {
            case F32 -> d.get(FLOAT, i * 4);
            case BF16 -> Float.intBitsToFloat((d.get(SHORT, i * 2) & 0xffff) << 16);
            case F16 -> Float.float16ToFloat(d.get(SHORT, i * 2));
            case F8_E4M3 -> Fp8.e4m3ToFloat(d.get(ValueLayout.JAVA_BYTE, i)) * w.scaleAt(r, c);
            default -> throw new UnsupportedOperationException("matMul on " + w.dtype() + " weights");
        };
    }

    @Override
    public float dot(float[] a, int aOff, float[] b, int bOff, int len) {
        float s = 0f;
        for (int i = 0; i < len; i++) s += a[aOff + i] * b[bOff + i];
        return s;
    }

    @Override
    public void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int len) {
        for (int i = 0; i < len; i++) y[yOff + i] += alpha * x[xOff + i];
    }

    @Override
    public void rmsNorm(float[] x, int xOff, float[] weight, float eps, float[] out, int outOff, int len) {
        float ss = 0f;
        for (int i = 0; i < len; i++) ss += x[xOff + i] * x[xOff + i];
        float inv = (float) (1.0 / Math.sqrt(ss / len + eps));
        for (int i = 0; i < len; i++) {
            float v = x[xOff + i] * inv;
            out[outOff + i] = weight == null ? v : v * weight[i];
        }
    }

    @Override
    public void softmax(float[] x, int off, int len) {
        float max = Float.NEGATIVE_INFINITY;
        for (int i = 0; i < len; i++) max = Math.max(max, x[off + i]);
        float sum = 0f;
        for (int i = 0; i < len; i++) {
            float e = (float) Math.exp(x[off + i] - max);
            x[off + i] = e;
            sum += e;
        }
        float inv = 1f / sum;
        for (int i = 0; i < len; i++) x[off + i] *= inv;
    }

    @Override
    public void siluMul(float[] gate, int gOff, float[] up, int uOff, float[] out, int outOff, int len) {
        for (int i = 0; i < len; i++) {
            float g = gate[gOff + i];
            out[outOff + i] = g / (1f + (float) Math.exp(-g)) * up[uOff + i];
        }
    }

    @Override
    public void add(float[] x, int xOff, float[] y, int yOff, int len) {
        for (int i = 0; i < len; i++) y[yOff + i] += x[xOff + i];
    }

    @Override
    public void scale(float[] x, int off, int len, float alpha) {
        for (int i = 0; i < len; i++) x[off + i] *= alpha;
    }
}
