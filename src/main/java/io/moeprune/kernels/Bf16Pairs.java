package io.moeprune.kernels;

/**
 * A transposed batch repacked for AMX tile products ({@link AmxBf16}): for each pair of columns (2kk, 2kk + 1) and
 * input t, one int holds the two columns' BF16 values (column 2kk in the low half), the layout TDPBF16PS reads its
 * second operand in. The F32 inputs are split in two such parts, hi = bf16(x) and lo = bf16(x − hi), whose sum
 * is x to about 2^-17 relative; the products take both. Rows of {@code tokens} ints (inputs padded with zeros to
 * a multiple of 16), {@code cols / 2} of them. Opaque outside the kernels.
 */
public final class Bf16Pairs {
    final int[] hi;
    final int[] lo;
    final int tokens;
    final int cols;

    Bf16Pairs(int[] hi, int[] lo, int tokens, int cols) {
        this.hi = hi;
        this.lo = lo;
        this.tokens = tokens;
        this.cols = cols;
    }

    /** Whether these arrays can hold a batch of {@code tokens} (padded) inputs × {@code cols} columns. */
    boolean fits(int tokens, int cols) {
        return (long) tokens * (cols / 2) <= hi.length;
    }
}
