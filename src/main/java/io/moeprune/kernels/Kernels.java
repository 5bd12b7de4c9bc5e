package io.moeprune.kernels;

/**
 * The numeric kernels the runtime needs. Weights stay in their stored dtype (F32, BF16, F16); activations are
 * F32 arrays. Two implementations exist: {@link ScalarKernels} (plain Java, the reference) and a Vector API one;
 * {@link #get()} picks by the system property {@code moeprune.kernels} = {@code auto} (default) | {@code vector} |
 * {@code scalar}, so tests can force each path.
 */
public interface Kernels {

    /** out[r] = Σ_c W[r,c]·x[xOff+c] for every row r of W. */
    void matVec(Weights w, float[] x, int xOff, float[] out, int outOff);

    /**
     * Batched product: for each of the n input rows X[i] (at x[i·w.cols()]), out[i·w.rows() + r] = W[r]·X[i].
     * Reads each weight row once for the whole batch.
     */
    void matMul(Weights w, float[] x, int n, float[] out);

    /** Σ a[aOff+i]·b[bOff+i] for i < len. */
    float dot(float[] a, int aOff, float[] b, int bOff, int len);

    /** y[yOff+i] += alpha·x[xOff+i] for i < len. */
    void axpy(float alpha, float[] x, int xOff, float[] y, int yOff, int len);

    /** The kernels chosen by {@code -Dmoeprune.kernels}. */
    static Kernels get() {
        return KernelSelection.current();
    }
}
