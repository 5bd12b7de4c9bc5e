package io.moeprune.patterns;

import io.moeprune.runtime.Model;
import io.moeprune.runtime.MoeObserver;

import java.util.EnumMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Computes signatures of token sequences with a model. Runs each sequence only up to the router of the last MoE
 * layer a requested kind reads ({@link Model#runToFeedForward}): the MoE layers before it run in full, its own
 * experts and every later layer are never read. Means are over all tokens of all sequences, as PreMoe divides its
 * summed markers by the total token count.
 */
public final class SignatureReader {
    private final Model model;
    private final int depth;
    private final Set<SignatureKind> kinds;
    private final List<Integer> moeLayers;
    private final int experts;
    private final int hidden;

    /** Reads {@code kinds} (ROUTER_PROBS and HIDDEN over the first {@code depth} MoE layers). */
    public SignatureReader(Model model, int depth, Set<SignatureKind> kinds) {
        this.model = model;
        this.moeLayers = model.spec().moeLayers();
        if (depth < 1 || depth > moeLayers.size()) {
            throw new IllegalArgumentException("signature depth " + depth + " of " + moeLayers.size() + " MoE layers");
        }
        this.depth = depth;
        this.kinds = Set.copyOf(kinds);
        this.experts = model.spec().moe().numExperts();
        this.hidden = model.spec().hiddenSize();
    }

    /** MoE layers read: the most any requested kind needs. */
    public int layersRead() {
        return kinds.stream().mapToInt(k -> k.layersRead(depth)).max().orElse(1);
    }

    public Signatures read(List<int[]> sequences) {
        Sums sums = new Sums();
        int read = layersRead();
        for (int[] ids : sequences) {
            if (ids.length == 0) continue;
            MoeObserver earlier = t -> {
                int pos = moeLayers.indexOf(t.layer());
                if (pos >= 0 && pos < read - 1) sums.add(pos, t.n(), t.residualIn(), t.routerLogits());
            };
            Model.FeedForwardInput last = model.runToFeedForward(ids, moeLayers.get(read - 1), earlier);
            sums.add(read - 1, last.n(), last.residual(), last.routerLogits());
            sums.tokens += ids.length;
        }
        return sums.means();
    }

    /** Running sums over tokens of every requested kind. */
    private final class Sums {
        final double[] premoe = new double[experts];
        final double[] probs = new double[depth * experts];
        final double[] states = new double[depth * hidden];
        long tokens;

        void add(int pos, int n, float[] h, float[] logits) {
            for (int t = 0; t < n; t++) {
                int lo = t * experts;
                if (pos == 0 && kinds.contains(SignatureKind.PREMOE)) {
                    int top = lo;
                    for (int e = lo + 1; e < lo + experts; e++) if (logits[e] > logits[top]) top = e;
                    premoe[top - lo] += logits[top];
                }
                if (pos < depth && kinds.contains(SignatureKind.ROUTER_PROBS)) softmaxInto(logits, lo, probs, pos * experts);
                if (pos < depth && kinds.contains(SignatureKind.HIDDEN)) {
                    for (int i = 0; i < hidden; i++) states[pos * hidden + i] += h[t * hidden + i];
                }
            }
        }

        private void softmaxInto(float[] z, int off, double[] out, int outOff) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (int e = 0; e < experts; e++) max = Math.max(max, z[off + e]);
            for (int e = 0; e < experts; e++) sum += Math.exp(z[off + e] - max);
            for (int e = 0; e < experts; e++) out[outOff + e] += Math.exp(z[off + e] - max) / sum;
        }

        Signatures means() {
            Map<SignatureKind, double[]> v = new EnumMap<>(SignatureKind.class);
            if (kinds.contains(SignatureKind.PREMOE)) v.put(SignatureKind.PREMOE, divided(premoe));
            if (kinds.contains(SignatureKind.ROUTER_PROBS)) v.put(SignatureKind.ROUTER_PROBS, divided(probs));
            if (kinds.contains(SignatureKind.HIDDEN)) v.put(SignatureKind.HIDDEN, divided(states));
            return new Signatures(depth, tokens, v);
        }

        private double[] divided(double[] sum) {
            double[] m = sum.clone();
            if (tokens > 0) for (int i = 0; i < m.length; i++) m[i] /= tokens;
            return m;
        }
    }
}
