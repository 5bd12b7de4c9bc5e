package io.moeprune.prune;

import io.moeprune.MoepruneException;
import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.InferenceState;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.family.Families;
import io.moeprune.select.ExpertMask;

import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;
import java.util.SplittableRandom;

/**
 * {@code prune --verify}: runs the same prompts through the pruned checkpoint and through the full model in the
 * runtime's mask mode, and fails unless every logit agrees to {@code tolerance} relative to the prompt's largest
 * logit. Both run the same kernels on the same bytes (the pruned model holds the kept experts' bytes unchanged),
 * so they normally agree exactly. Prompts are fixed pseudo-random token ids: the check is about the weights and
 * routing, not about the text, and needs no tokenizer.
 */
public final class RuntimeVerification implements Verification {
    /** The bound for equal dtypes. */
    public static final double TOLERANCE = 1e-6;

    private final int prompts, tokens;

    public RuntimeVerification(int prompts, int tokens) {
        this.prompts = prompts;
        this.tokens = tokens;
    }

    public static RuntimeVerification defaults() {
        return new RuntimeVerification(3, 24);
    }

    @Override
    public void checkSupported(Path model) {
        ModelSpec spec = ConfigReader.read(model);
        try {
            Families.of(spec);
        } catch (MoepruneException e) {
            throw new MoepruneException("--verify: " + e.getMessage(), e);
        }
    }

    @Override
    public VerifyReport verify(Path modelDir, Path prunedDir, ExpertMask mask) {
        ModelSpec full = ConfigReader.read(modelDir), pruned = ConfigReader.read(prunedDir);
        Map<Integer, int[]> kept = new HashMap<>();
        for (int i = 0; i < mask.moeLayers().size(); i++) kept.put(mask.moeLayers().get(i), mask.kept()[i]);
        io.moeprune.runtime.ExpertMask runtimeMask = io.moeprune.runtime.ExpertMask.of(kept, full.moe().numExperts(),
                mask.routing());
        double worst = 0;
        try (Model a = Model.load(modelDir, full); Model b = Model.load(prunedDir, pruned)) {
            SplittableRandom rnd = new SplittableRandom(20261123L);
            for (int p = 0; p < prompts; p++) {
                int[] ids = new int[tokens];
                for (int t = 0; t < tokens; t++) ids[t] = rnd.nextInt(full.vocabSize());
                InferenceState masked = a.newState(tokens).withMask(runtimeMask);
                float[] want = a.forward(ids, masked, true);
                float[] got = b.forward(ids, b.newState(tokens), true);
                double scale = 0, diff = 0;
                for (int i = 0; i < want.length; i++) {
                    scale = Math.max(scale, Math.abs(want[i]));
                    diff = Math.max(diff, Math.abs((double) want[i] - got[i]));
                }
                double rel = scale == 0 ? diff : diff / scale;
                if (!(rel <= TOLERANCE)) {
                    throw new MoepruneException("--verify: prompt " + p + ": pruned logits differ from the masked full "
                            + "model by " + rel + " (relative), more than " + TOLERANCE + "; the pruned model was not "
                            + "written", MoepruneException.FAILED, null);
                }
                worst = Math.max(worst, rel);
            }
        }
        return new VerifyReport(prompts, tokens, worst, TOLERANCE);
    }
}
