package io.moeprune.gpu.ops;

import io.moeprune.model.GroupStrategy;
import io.moeprune.model.MoeSpec;
import io.moeprune.runtime.Router;

/**
 * What {@link DeviceOps#route} needs to know of a layer's router (the CPU runtime's {@link Router}, whose choices it
 * reproduces), built once per layer; the selection bias travels as a device buffer beside it, the mask and its
 * {@link GroupStrategy} per call.
 *
 * @param scoring    softmax then top-k, top-k then softmax (gpt-oss, Mixtral), or sigmoid with selection bias
 * @param numExperts E, the router's outputs
 * @param topK       k experts per token
 * @param normalise  the chosen weights renormalised to sum 1 (not for SOFTMAX_TOPK, which always sums to 1)
 * @param scaling    the weights' routed scaling factor (1 or 0: none, as the CPU takes it)
 * @param nGroup     expert groups (1: none)
 * @param topkGroup  groups kept per token
 * @param sumTop2    a group scores the sum of its two best choice scores (DeepSeek-V3) rather than its best (V2)
 */
public record RoutingSpec(MoeSpec.Scoring scoring, int numExperts, int topK, boolean normalise, float scaling,
                          int nGroup, int topkGroup, boolean sumTop2) {
    /** The largest E the device kernels take (a warp's lanes each own E/32 experts in a 32-bit mask). */
    public static final int MAX_EXPERTS = 1024;

    public RoutingSpec {
        if (topK < 1 || topK > numExperts) throw new IllegalArgumentException("top-k " + topK + " of " + numExperts);
        if (nGroup < 1 || topkGroup < 1 || topkGroup > nGroup) {
            throw new IllegalArgumentException(topkGroup + " of " + nGroup + " expert groups");
        }
    }

    /** The routing of {@code router}. */
    public static RoutingSpec of(Router router) {
        return of(router.spec());
    }

    public static RoutingSpec of(MoeSpec m) {
        MoeSpec.Groups g = m.groups();
        return new RoutingSpec(m.scoring(), m.numExperts(), m.topK(), m.normTopkProb(), m.routedScalingFactor(),
                g.nGroup(), g.topkGroup(), g.score() == MoeSpec.Groups.GroupScore.SUM_TOP2);
    }

    /** Whether the device kernels take this router (else the caller routes on the host). */
    public boolean runsOnDevice() {
        return numExperts <= MAX_EXPERTS;
    }

    boolean groups() {
        return nGroup > 1;
    }

    /** What the choice scores of experts outside the kept groups become ({@code Router.outsideGroupsScore}). */
    float outsideGroups() {
        return sumTop2 ? -Float.MAX_VALUE : 0f;
    }
}
