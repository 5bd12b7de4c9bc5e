package io.moeprune.gpu;

import io.moeprune.MoepruneException;

/**
 * Where a command runs its model: {@code cpu} (the reference runtime) or {@code cuda[:N]} (the N-th CUDA device,
 * default 0).
 */
public record DeviceChoice(Kind kind, int ordinal) {
    public enum Kind { CPU, CUDA }

    public static final DeviceChoice CPU = new DeviceChoice(Kind.CPU, 0);

    public DeviceChoice {
        if (ordinal < 0) throw new IllegalArgumentException("device ordinal " + ordinal);
    }

    /** Parses {@code cpu}, {@code cuda} or {@code cuda:N}; anything else is a one-line error (exit 2). */
    public static DeviceChoice parse(String text) {
        String t = text == null ? "" : text.strip().toLowerCase(java.util.Locale.ROOT);
        if (t.equals("cpu")) return CPU;
        if (t.equals("cuda") || t.equals("gpu")) return new DeviceChoice(Kind.CUDA, 0);
        if (t.startsWith("cuda:")) {
            try {
                int n = Integer.parseInt(t.substring(5));
                if (n >= 0 && n < 1024) return new DeviceChoice(Kind.CUDA, n);
            } catch (NumberFormatException ignored) {
                // falls through to the error
            }
        }
        throw new MoepruneException("--device: '" + MoepruneException.oneLine(text)
                + "' is not a device: use cpu, cuda or cuda:N");
    }

    public boolean isCuda() {
        return kind == Kind.CUDA;
    }

    @Override
    public String toString() {
        return kind == Kind.CPU ? "cpu" : "cuda:" + ordinal;
    }
}
