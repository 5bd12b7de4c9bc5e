package io.moeprune;

/** The name and version of this tool, as `moeprune --version` prints it and as pruned checkpoints record it. */
public final class ToolVersion {
    public static final String TEXT = "moeprune 0.1.0";

    private ToolVersion() {
    }
}
