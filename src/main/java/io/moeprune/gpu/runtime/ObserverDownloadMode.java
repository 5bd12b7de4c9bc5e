package io.moeprune.gpu.runtime;

import io.moeprune.MoepruneException;

import java.util.Locale;

/**
 * Where the observers' device→pinned-host copies of a watched MoE block run ({@code -Dmoeprune.observerDownloads},
 * {@link ObserverDownloads}; issue 22's calibration prefill goal). The three give the same bytes; they differ in what
 * waits for what.
 * <ul>
 *   <li>{@code download-stream} (the default since 2026-12-07): on a stream of their own, behind a compute fence
 *   taken after the kernels that wrote the copied buffers; the compute stream waits for their fence only before it
 *   overwrites one of those buffers (the next MoE block's router), so the copies overlap the attention in between. The
 *   residual entering the block (only for an observer that reads it) stays on the compute stream: the epilogue adds
 *   into it right after.</li>
 *   <li>{@code compute-stream}: queued on the compute stream in stream order (the kernels after them wait for the
 *   PCIe copies: 80 copies, 11.2 ms of a 101.5 ms stream on an H100 for the 1.9 B model's 8 × 2048 calibration,
 *   2026-12-07): the A/B.</li>
 *   <li>{@code waited}: as {@code compute-stream}, and the pass waits for each chunk-layer's copies itself (one stall
 *   a MoE layer, as before the copies were queued).</li>
 * </ul>
 */
public enum ObserverDownloadMode {
    DOWNLOAD_STREAM, COMPUTE_STREAM, WAITED;

    public static final String PROPERTY = "moeprune.observerDownloads";

    /** The switch's spelling of the mode ({@code download-stream}, ...). */
    public String switchName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** The switch as set now ({@code download-stream} when unset); a bad value is the one-line bad-input error. */
    public static ObserverDownloadMode fromProperties() {
        String v = System.getProperty(PROPERTY, DOWNLOAD_STREAM.switchName()).trim();
        for (ObserverDownloadMode m : values()) if (m.switchName().equals(v)) return m;
        throw new MoepruneException("-D" + PROPERTY + "=" + v + ": not download-stream, compute-stream or waited",
                MoepruneException.BAD_INPUT, null);
    }
}
