package io.moeprune.calibrate;

import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.InferenceState;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.LayerProgress;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.MoeObserver;
import io.moeprune.runtime.PrefillPasses;

import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.IntConsumer;

/**
 * Runs one teacher-forced prefill per demonstration, in layer-major order ({@link LayerMajorPass}), and records every
 * {@link Statistic} of every MoE layer.
 * One calibration serves every selection method.
 */
public final class Calibrator {
    private final Model model;
    private final ModelSpec spec;
    private final List<Integer> moeLayers;

    public Calibrator(Model model) {
        this.model = model;
        this.spec = model.spec();
        this.moeLayers = spec.moeLayers();
    }

    /**
     * Statistics of one domain, layer-major: each layer's weights are read once whatever the number of
     * demonstrations. {@code progress} receives tokens as the demonstrations pass the layers (a demonstration's
     * tokens in all once it has passed every layer), {@code onLayer} each finished layer.
     */
    public ExpertStats run(List<int[]> demos, List<String> texts, String fingerprint, String domain, IntConsumer progress,
                           Consumer<LayerProgress> onLayer) {
        List<CalibrationAccumulator> perDemo = new ArrayList<>();
        List<MoeObserver> observers = new ArrayList<>();
        for (int i = 0; i < demos.size(); i++) {
            perDemo.add(newAccumulator());
            observers.add(observer(perDemo.get(i)));
        }
        double[] units = demos.stream().mapToDouble(d -> d.length).toArray();
        // Each demonstration's observer has its accumulator to itself: the GPU pass may run them on its workers.
        PrefillPasses.create(model, ExpertMask.NONE, LayerMajorPass.Logits.NONE).run(demos, observers::get,
                (i, logits) -> { },
                LayerMajorListener.crediting(units, model.layers().size(), progress, onLayer));
        CalibrationAccumulator acc = newAccumulator();
        for (int i = 0; i < demos.size(); i++) {
            if (demos.get(i).length == 0) continue;
            perDemo.get(i).endDemo(sha256(texts.get(i)), demos.get(i).length);
            acc.append(perDemo.get(i));
        }
        return acc.result(fingerprint, domain, moeLayers);
    }

    /** The same without layer reports. */
    public ExpertStats run(List<int[]> demos, List<String> texts, String fingerprint, String domain, IntConsumer progress) {
        return run(demos, texts, fingerprint, domain, progress, p -> { });
    }

    /**
     * The same statistics document-major: one prefill per demonstration through every layer. The reference the
     * layer-major order is tested against (the same floats), and the baseline of its benchmark.
     */
    public ExpertStats runDocumentMajor(List<int[]> demos, List<String> texts, String fingerprint, String domain,
                                        IntConsumer progress) {
        CalibrationAccumulator acc = newAccumulator();
        InferenceState state = model.newState(demos.stream().mapToInt(d -> d.length).max().orElse(1));
        state.withObserver(observer(acc));
        for (int i = 0; i < demos.size(); i++) {
            int[] ids = demos.get(i);
            if (ids.length == 0) continue;
            state.reset();
            model.forward(ids, state, false);
            acc.endDemo(sha256(texts.get(i)), ids.length);
            progress.accept(ids.length);
        }
        return acc.result(fingerprint, domain, moeLayers);
    }

    private CalibrationAccumulator newAccumulator() {
        return new CalibrationAccumulator(moeLayers.size(), spec.moe().numExperts(), spec.moe().topK());
    }

    private MoeObserver observer(CalibrationAccumulator acc) {
        return new CalibrationObserver(acc, moeLayers);
    }

    static String sha256(String text) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(text.getBytes(StandardCharsets.UTF_8)));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }
}
