package io.moeprune.gpu.cuda;

import io.moeprune.MoepruneException;

/**
 * A CUDA, NVRTC or cuBLAS call that failed while working (out of device memory, an illegal address in a kernel):
 * one line naming the call and the library's own words, exit code 1.
 */
public final class CudaError extends MoepruneException {
    private final int code;

    public CudaError(String call, int code, String meaning) {
        super("CUDA: " + call + " failed: " + meaning + " (" + code + ")", FAILED, null);
        this.code = code;
    }

    /** The library's status code. */
    public int code() {
        return code;
    }

    /** Rethrows what a downcall threw: downcalls declare Throwable, but ours only fail by their status codes. */
    static RuntimeException rethrow(Throwable t) {
        if (t instanceof RuntimeException r) return r;
        if (t instanceof Error e) throw e;
        return new IllegalStateException(t);
    }
}
