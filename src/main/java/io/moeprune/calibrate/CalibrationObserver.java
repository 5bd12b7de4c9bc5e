package io.moeprune.calibrate;

import io.moeprune.runtime.MoeObserver;
import io.moeprune.runtime.MoeTrace;

import java.util.List;

/**
 * Feeds one demonstration's {@link CalibrationAccumulator} from the MoE traces of its prefill, a trace (one MoE layer
 * of the sequence) at a time. The GPU runtime reduces s and ‖e‖ on the device and sends only them ({@link MoeTrace});
 * from the CPU's traces they are computed here from the residual, the routed output and the expert rows.
 *
 * <p>It reads no residual from a GPU trace, and may run on the GPU pass's workers: it keeps to its own accumulator,
 * which the calibrator reads once the pass has returned.
 */
public final class CalibrationObserver implements MoeObserver {
    private final CalibrationAccumulator acc;
    private final List<Integer> moeLayers;

    /** Feeds {@code acc}; {@code moeLayers} are the model's MoE layer indices (a trace's layer is looked up in them). */
    public CalibrationObserver(CalibrationAccumulator acc, List<Integer> moeLayers) {
        this.acc = acc;
        this.moeLayers = moeLayers;
    }

    @Override
    public void onMoeBlock(MoeTrace t) {
        int n = t.n(), k = t.topK();
        double[] s = new double[n];
        float[] norms;
        if (t.turns() != null) {
            for (int i = 0; i < n; i++) s[i] = t.turns()[i];
            norms = t.slotNorms();
        } else {
            norms = new float[n * k];
            int h = t.hidden();
            for (int i = 0; i < n; i++) {
                s[i] = CalibrationAccumulator.tokenContribution(t.residualIn(), i * h, t.routed(), i * h, h);
                for (int slot = i * k; slot < (i + 1) * k; slot++) norms[slot] = norm(t.expertOutputs(), slot * h, h);
            }
        }
        acc.tokens(moeLayers.indexOf(t.layer()), n, k, s, t.chosen(), t.weights(), norms, t.routerLogits());
    }

    /** ‖e‖ of one expert row, summed in double. */
    private static float norm(float[] rows, int off, int h) {
        double sq = 0;
        for (int j = 0; j < h; j++) sq += (double) rows[off + j] * rows[off + j];
        return (float) Math.sqrt(sq);
    }

    @Override
    public boolean readsResidual() {
        return false;
    }

    @Override
    public boolean runsOffThread() {
        return true;
    }
}
