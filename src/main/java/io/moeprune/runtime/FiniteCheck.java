package io.moeprune.runtime;

import io.moeprune.MoepruneException;

import java.nio.file.Path;

/**
 * Finds where a forward pass stops being finite. A NaN or infinity in the residual stream (from corrupt weights or
 * a hostile config value) would otherwise surface only as a loss of NaN with exit code 0; checked after the
 * embedding, after every layer and on the logits, it becomes an error naming where it appeared.
 *
 * <p>Cost: one pass over the n x hidden residual per layer (n x vocab for the logits), against the layer's n x
 * hidden x (several x hidden) multiply-adds: well under a percent.
 */
final class FiniteCheck {
    private FiniteCheck() {
    }

    /** The index of a non-finite value in x[0, len), or -1 when all are finite. */
    static int nonFinite(float[] x, int len) {
        // v - v is 0 for a finite v and NaN otherwise; four independent sums keep the loop throughput-bound.
        float a = 0, b = 0, c = 0, d = 0;
        int i = 0;
        for (; i + 4 <= len; i += 4) {
            a += x[i] - x[i];
            b += x[i + 1] - x[i + 1];
            c += x[i + 2] - x[i + 2];
            d += x[i + 3] - x[i + 3];
        }
        for (; i < len; i++) a += x[i] - x[i];
        if (a + b + c + d == 0) return -1;
        for (int j = 0; j < len; j++) if (!Float.isFinite(x[j])) return j;
        return -1;
    }

    /**
     * Throws when x [n rows of width] holds a non-finite value, naming the model, {@code where} it appeared and
     * the position of the first affected token.
     */
    static void require(float[] x, int len, int width, int startPos, Path model, String where) {
        int at = nonFinite(x, len);
        if (at < 0) return;
        throw MoepruneException.inFile(model, (Float.isNaN(x[at]) ? "NaN" : "an infinite value") + " appeared " + where
                + " at token position " + (startPos + at / width) + ": corrupt weights or config.json values");
    }
}
