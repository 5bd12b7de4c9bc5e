package io.moeprune.select;

/**
 * How many experts to keep. PER_LAYER keeps {@code keep} experts in every MoE layer (as the EASY-EP and PreMoe
 * papers do). GLOBAL keeps {@code keep × layers} experts in all, distributed over layers by score mass, with at
 * least {@code floor} (normally top-k) per layer. With {@code perGroup} (routers with expert groups) each
 * layer's count is split equally over the {@code groups} groups.
 */
public record Budget(Kind kind, int keep, int floor, boolean perGroup, int groups) {
    public enum Kind { PER_LAYER, GLOBAL }

    public static Budget perLayer(int keep) {
        return new Budget(Kind.PER_LAYER, keep, 0, false, 1);
    }

    public static Budget global(int keepPerLayerOnAverage, int floor) {
        return new Budget(Kind.GLOBAL, keepPerLayerOnAverage, floor, false, 1);
    }

    public Budget withGroups(int groups) {
        return new Budget(kind, keep, floor, true, groups);
    }

    /** "per-layer 16", "global 16 (floor 4)", "per-layer 16, 4 per group". */
    public String describe() {
        String s = kind == Kind.PER_LAYER ? "per-layer " + keep : "global " + keep + " per layer on average (floor " + floor + ")";
        return perGroup ? s + ", equal per group of " + groups : s;
    }
}
