package io.moeprune.gpu.runtime;

/**
 * Where one layer's time went in a timed {@link GpuLayerMajorPass} (benchmarks). The copy of a layer overlaps the
 * compute of the one before it, so the parts do not add up to the wall time.
 *
 * @param wallSeconds    the compute stream from the end of the previous layer (the run's start for the first) to
 *                       the end of this one: the layer's share of the run, waiting for its copy included
 * @param stageSeconds   the host's staging of the layer's weights from the mapped checkpoint into pinned memory (a
 *                       host thread; the page cache's misses are read here)
 * @param uploadSeconds  the host→device copy of the staged layer on the copy stream
 * @param dequantSeconds the device's dequantisation of what came raw (FP8 blocks, MXFP4), on the compute stream
 * @param computeSeconds the layer's compute (attention, router, experts) on the compute stream, after dequantisation
 * @param bytesCopied    bytes copied host→device for the layer's weights
 */
public record LayerTimes(int layer, double wallSeconds, double stageSeconds, double uploadSeconds,
                         double dequantSeconds, double computeSeconds, long bytesCopied) {

    /** Staging, upload and dequantisation: everything it takes to get the layer's weights onto the device in BF16. */
    public double copySeconds() {
        return stageSeconds + uploadSeconds + dequantSeconds;
    }
}
