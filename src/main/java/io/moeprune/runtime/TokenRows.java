package io.moeprune.runtime;

import java.util.function.IntBinaryOperator;

/** Where token j of active expert a has its row in a batched expert projection: arrays[a] from offset at(a, j). */
record TokenRows(float[][] arrays, IntBinaryOperator offsets) {
    int at(int a, int j) {
        return offsets.applyAsInt(a, j);
    }
}
