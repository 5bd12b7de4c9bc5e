package io.moeprune.gpu.runtime;

import io.moeprune.gpu.ops.ProfiledOps;

import java.util.List;

/**
 * The roles of a model's products by their shapes, for the per-operation profile ({@link ProfiledOps#role}): the
 * attention's projections, the router, the experts', the dense and shared MLPs' and the LM head's.
 */
final class OpRoles {
    private OpRoles() {
    }

    /**
     * {@code ops} told the role of every product shape of {@code layers} (GQA's q, k and v as one product when
     * {@code fusedQkv}, else each on its own) and of an LM head [vocab, hidden].
     */
    static ProfiledOps name(ProfiledOps ops, List<LayerPlan> layers, boolean fusedQkv, int hidden, int vocab) {
        for (LayerPlan l : layers) {
            switch (l.attention()) {
                case LayerPlan.Gqa g when fusedQkv -> {
                    ops.role("linear", g.q().in(), g.q().out() + g.k().out() + g.v().out(), "qkv");
                    linear(ops, g.o(), "o_proj");
                }
                case LayerPlan.Gqa g -> {
                    linear(ops, g.q(), "q_proj");
                    linear(ops, g.k(), "k_proj");
                    linear(ops, g.v(), "v_proj");
                    linear(ops, g.o(), "o_proj");
                }
                case LayerPlan.Mla m -> {
                    if (m.q() != null) linear(ops, m.q(), "q_proj");
                    if (m.qA() != null) linear(ops, m.qA(), "q_a_proj");
                    if (m.qB() != null) linear(ops, m.qB(), "q_b_proj");
                    linear(ops, m.kvA(), "kv_a_proj");
                    linear(ops, m.kvB(), "kv_b_proj");
                    linear(ops, m.o(), "o_proj");
                }
            }
            switch (l.feedForward()) {
                case LayerPlan.Dense d -> mlp(ops, "linear", "mlp ", d.mlp(), hidden);
                case LayerPlan.Moe m -> {
                    ops.role("linear_f32", hidden, m.numExperts(), "router");
                    mlp(ops, "grouped", "", m.experts()[0], hidden);
                    if (m.shared() != null) mlp(ops, "linear", "shared ", m.shared(), hidden);
                    if (m.sharedGate() != null) linear(ops, m.sharedGate(), "shared gate");
                }
            }
        }
        ops.role("linear", hidden, vocab, "lm_head");
        return ops;
    }

    private static void linear(ProfiledOps ops, LayerPlan.Projection p, String role) {
        ops.role("linear", p.in(), p.out(), role);
    }

    private static void mlp(ProfiledOps ops, String op, String prefix, LayerPlan.Mlp mlp, int hidden) {
        ops.role(op, hidden, 2 * mlp.intermediate(), prefix + "gate|up");
        ops.role(op, mlp.intermediate(), hidden, prefix + "down");
    }
}
