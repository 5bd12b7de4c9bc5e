package io.moeprune.kernels;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;

/** Plain-Java kernels: the reference the vector path is tested against, and the fallback. */
public final class ScalarKernels implements Kernels {
    public static final ScalarKernels INSTANCE = new ScalarKernels();
    private static final ValueLayout.OfShort SHORT = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
    private static final ValueLayout.OfFloat FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    private ScalarKernels() {
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
            default -> throw new UnsupportedOperationException("matVec on " + w.dtype() + " weights");
        }
        return sum;
    }

    @Override
    public void matVec(Weights w, float[] x, int xOff, float[] out, int outOff) {
        for (int r = 0; r < w.rows(); r++) out[outOff + r] = rowDot(w, r, x, xOff);
    }

    @Override
    public void matMul(Weights w, float[] x, int n, float[] out) {
        for (int i = 0; i < n; i++) matVec(w, x, i * w.cols(), out, i * w.rows());
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
}
