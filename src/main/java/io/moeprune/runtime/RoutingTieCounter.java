package io.moeprune.runtime;

import java.util.Map;
import java.util.TreeMap;

/**
 * Counts, per MoE layer, the tokens whose chosen experts were decided by the router's tie rule (lower id wins) rather
 * than by the scores: see {@link Router#tieDependent}. Another implementation may legitimately choose differently on
 * exactly those tokens, so a comparison with transformers is only meaningful where this count is zero.
 * Attach with {@link InferenceState#withObserver}; the mask of the traced pass is applied as the router saw it.
 */
public final class RoutingTieCounter implements MoeObserver {
    private final Map<Integer, Router> routers = new TreeMap<>();
    private final ExpertMask mask;
    private final Map<Integer, int[]> counts = new TreeMap<>();   // layer -> {tie-dependent tokens, tokens}

    public RoutingTieCounter(Model model, ExpertMask mask) {
        for (DecoderLayer l : model.layers()) {
            if (l.feedForward() instanceof MoeBlock b) routers.put(b.layer(), b.router());
        }
        this.mask = mask == null ? ExpertMask.NONE : mask;
    }

    @Override
    public void onMoeBlock(MoeTrace t) {
        Router r = routers.get(t.layer());
        float[] scratch = new float[2 * t.numExperts()];
        int[] c = counts.computeIfAbsent(t.layer(), x -> new int[2]);
        for (int i = 0; i < t.n(); i++) {
            if (r.tieDependent(t.routerLogits(), i * t.numExperts(), mask.kept(t.layer()), mask.strategy(), scratch)) c[0]++;
            c[1]++;
        }
    }

    /** Layer -> {tie-dependent tokens, tokens routed}. */
    public Map<Integer, int[]> counts() {
        return counts;
    }

    public int tieDependent() {
        return counts.values().stream().mapToInt(c -> c[0]).sum();
    }

    public int routed() {
        return counts.values().stream().mapToInt(c -> c[1]).sum();
    }

    /** E.g. "3 of 48 token-layers (layer 1: 1/24, layer 2: 2/24)". */
    public String summary() {
        StringBuilder b = new StringBuilder().append(tieDependent()).append(" of ").append(routed()).append(" token-layers (");
        String sep = "";
        for (var e : counts.entrySet()) {
            b.append(sep).append("layer ").append(e.getKey()).append(": ").append(e.getValue()[0]).append('/').append(e.getValue()[1]);
            sep = ", ";
        }
        return b.append(')').toString();
    }
}
