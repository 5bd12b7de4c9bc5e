package io.moeprune.runtime;

import io.moeprune.kernels.Kernels;

import java.lang.foreign.MemorySegment;
import java.util.List;

/** One of gpt-oss's fused expert projections (gate_up or down), for every expert, in its stored form. */
sealed interface ExpertProjection permits InputMajorProjection, Mxfp4Projection {
    /** Inputs per token. */
    int in();

    /** Outputs per token. */
    int out();

    /** Bytes of one expert's stored matrix. */
    long expertBytes();

    /** The memory expert {@code e}'s matrix is read from, in a fixed order ({@link ExpertWeights#expertMemory}). */
    List<MemorySegment> expertMemory(int e);

    /** This projection with expert e read from {@code memory.get(e)} where not null ({@link ExpertWeights#readingFrom}). */
    ExpertProjection readingFrom(List<List<MemorySegment>> memory);

    /**
     * out_j = bias[e·out, (e + 1)·out) + W_e · in_j for every active expert a (id e = active[a]) and each of its
     * start[e + 1] − start[e] tokens j, whose rows {@code inputs} and {@code outputs} locate; spread over the threads.
     */
    void project(Kernels kernels, float[] bias, int[] active, int activeCount, int[] start, TokenRows inputs,
                 TokenRows outputs);

    /** Whether every active expert has exactly one token (a decode step). */
    static boolean oneTokenEach(int[] active, int activeCount, int[] start) {
        for (int a = 0; a < activeCount; a++) if (start[active[a] + 1] - start[active[a]] != 1) return false;
        return true;
    }
}
