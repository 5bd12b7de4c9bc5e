package io.moeprune.gpu.runtime;

import io.moeprune.runtime.ExpertMask;
import io.moeprune.runtime.LayerMajorListener;
import io.moeprune.runtime.LayerMajorPass;
import io.moeprune.runtime.Model;
import io.moeprune.runtime.PrefillPass;
import io.moeprune.runtime.PrefillPasses;
import io.moeprune.runtime.TokenScores;

import java.util.List;

/**
 * The GPU pass's token scores ({@link LayerMajorPass.Logits#SCORES}) checked two ways, shared by the CI test
 * (HostOps as the device) and the GPU machine's (CudaOps): against the CPU's scoring of the logits the same device
 * downloads in an ALL pass (the device's scoring alone: equal up to the F32 of each loss and the order of the
 * kernel's sum), and against the CPU pass's scores (the whole GPU runtime: losses within its logits' tolerance, hits
 * the same except where the CPU's top logit and the device's top one are within what the logits moved).
 */
public final class ScoreComparison {
    /**
     * @param scoringError  the largest |device loss − CPU loss of the device's logits| / max(1, |CPU loss|) of a position
     * @param scoringHits   positions whose hit differs from the CPU's scoring of the device's logits (should be 0)
     * @param nllError      the largest |device − CPU| / CPU of a sequence's summed loss (CPU pass)
     * @param positions     positions scored
     * @param nearTies      positions whose hit differs from the CPU pass's at a near tie
     * @param differing     positions whose hit differs otherwise (should be 0)
     */
    public record Result(double scoringError, int scoringHits, double nllError, int positions, int nearTies,
                         int differing) {
    }

    private ScoreComparison() {
    }

    /** Compares the scores of sequences {@code seqs} from positions {@code first} on, the device's with the CPU's. */
    public static Result compare(Model model, List<int[]> seqs, int[] first, PrefillPasses.Factory gpu) {
        float[][] cpuLogits = logits(PrefillPasses.CPU.create(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL), seqs);
        float[][] devLogits = logits(gpu.create(model, ExpertMask.NONE, LayerMajorPass.Logits.ALL), seqs);
        TokenScores[] cpu = scores(PrefillPasses.CPU.create(model, ExpertMask.NONE, LayerMajorPass.Logits.SCORES), seqs, first);
        TokenScores[] dev = scores(gpu.create(model, ExpertMask.NONE, LayerMajorPass.Logits.SCORES), seqs, first);
        int vocab = model.spec().vocabSize(), positions = 0, scoringHits = 0, nearTies = 0, differing = 0;
        double scoringError = 0, nllError = 0;
        for (int s = 0; s < seqs.size(); s++) {
            if (seqs.get(s).length == 0) continue;
            TokenScores hostOfDev = TokenScores.of(devLogits[s], seqs.get(s), first[s]);
            for (int i = 0; i < dev[s].predicted(); i++) {
                positions++;
                double ref = hostOfDev.nll()[i];
                scoringError = Math.max(scoringError, Math.abs(dev[s].nll()[i] - ref) / Math.max(1, Math.abs(ref)));
                if (dev[s].hits()[i] != hostOfDev.hits()[i]) scoringHits++;
                if (dev[s].hits()[i] != cpu[s].hits()[i]) {
                    int off = (first[s] + i) * vocab;
                    if (nearTie(cpuLogits[s], devLogits[s], off, vocab)) nearTies++;
                    else differing++;
                }
            }
            if (cpu[s].predicted() > 0) {
                nllError = Math.max(nllError, Math.abs(dev[s].totalNll() - cpu[s].totalNll()) / cpu[s].totalNll());
            }
        }
        return new Result(scoringError, scoringHits, nllError, positions, nearTies, differing);
    }

    /**
     * Whether the CPU's logits of the two runs' argmaxes of a row are closer than twice the most any logit of the row
     * moved between the runs (a BF16 product may then put the other on top).
     */
    private static boolean nearTie(float[] cpu, float[] dev, int off, int vocab) {
        double moved = 0;
        for (int i = 0; i < vocab; i++) moved = Math.max(moved, Math.abs(cpu[off + i] - dev[off + i]));
        int a = TokenScores.argmax(cpu, off, vocab), b = TokenScores.argmax(dev, off, vocab);
        return Math.abs(cpu[off + a] - cpu[off + b]) <= 2 * moved;
    }

    private static float[][] logits(PrefillPass pass, List<int[]> seqs) {
        float[][] out = new float[seqs.size()][];
        pass.run(seqs, null, (s, l) -> out[s] = l, LayerMajorListener.NONE);
        return out;
    }

    /** The scores of a SCORES pass, sequence s from position first[s] on. */
    public static TokenScores[] scores(PrefillPass pass, List<int[]> seqs, int[] first) {
        TokenScores[] out = new TokenScores[seqs.size()];
        pass.run(seqs, null, new LayerMajorPass.ScoreSink() {
            @Override
            public int firstScored(int sequence) {
                return first[sequence];
            }

            @Override
            public void scores(int sequence, TokenScores scores) {
                out[sequence] = scores;
            }
        }, LayerMajorListener.NONE);
        return out;
    }
}
