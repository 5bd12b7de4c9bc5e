package io.moeprune.runtime;

import io.moeprune.MoepruneException;
import io.moeprune.kernels.Kernels;

import java.nio.file.Path;

/**
 * Finds where a forward pass stops being finite. A NaN or infinity in the residual stream (from corrupt weights or
 * a hostile config value) would otherwise surface only as a loss of NaN with exit code 0; checked after the
 * embedding, after every layer and on the logits, it becomes an error naming where it appeared.
 *
 * <p>Cost: one vectorised pass over the n x hidden residual per layer (n x vocab for the logits), against the
 * layer's n x hidden x (several x hidden) multiply-adds: well under a percent (docs/reliability.md).
 */
final class FiniteCheck {
    private FiniteCheck() {
    }

    /** Zeros to take dot products with: in L1 cache, whatever the length checked. */
    private static final float[] ZEROS = new float[4096];

    /** The index of a non-finite value in x[0, len), or -1 when all are finite. */
    static int nonFinite(float[] x, int len) {
        // x . 0 is 0 when every x is finite and NaN otherwise (NaN * 0 and infinity * 0 are NaN), and the kernels'
        // dot product is vectorised: a fraction of a scalar pass.
        Kernels k = Kernels.get();
        for (int off = 0; off < len; off += ZEROS.length) {
            int n = Math.min(ZEROS.length, len - off);
            if (k.dot(x, off, ZEROS, 0, n) != 0) {
                for (int i = off; i < off + n; i++) if (!Float.isFinite(x[i])) return i;
            }
        }
        return -1;
    }

    /**
     * Throws when x [n rows of width] holds a non-finite value, naming the model, {@code where} it appeared and
     * the position of the first affected token.
     */
    static void require(float[] x, int len, int width, int startPos, Path model, String where) {
        int at = nonFinite(x, len);
        if (at < 0) return;
        throw error(model, Float.isNaN(x[at]), where, startPos + at / width);
    }

    /** The one-line error of a NaN (or infinite value) that appeared {@code where} at token {@code position}. */
    static MoepruneException error(Path model, boolean nan, String where, int position) {
        return MoepruneException.inFile(model, (nan ? "NaN" : "an infinite value") + " appeared " + where
                + " at token position " + position + ": corrupt weights or config.json values");
    }
}
