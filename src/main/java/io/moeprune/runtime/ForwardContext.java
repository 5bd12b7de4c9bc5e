package io.moeprune.runtime;

/** Per-call options of a forward pass: which experts may be routed to, and who watches the MoE blocks. */
public record ForwardContext(ExpertMask mask, MoeObserver observer) {
    public static final ForwardContext PLAIN = new ForwardContext(ExpertMask.NONE, null);
}
