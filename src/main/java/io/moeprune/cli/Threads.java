package io.moeprune.cli;

/** Applies a --threads option to the compute kernels (before any model is loaded). */
final class Threads {
    private Threads() {
    }

    static void apply(Integer threads) {
        if (threads == null) return;
        if (threads < 1) throw new io.moeprune.MoepruneException("--threads must be at least 1, not " + threads);
        System.setProperty("moeprune.threads", Integer.toString(threads));
    }
}
