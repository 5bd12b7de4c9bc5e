package io.moeprune.patterns;

/** How far apart two signature vectors are; smaller is nearer. */
public enum Distance {
    /** ‖a − b‖², what PreMoe's reference code ranks with (a faiss IndexFlatL2). */
    SQUARED_L2("squared-l2"),
    /** 1 − cos(a, b): insensitive to the vectors' scale, which grows with prompt length for no reason of topic. */
    COSINE("cosine");

    private final String cliName;

    Distance(String cliName) {
        this.cliName = cliName;
    }

    public String cliName() {
        return cliName;
    }

    public double between(double[] a, double[] b) {
        if (a.length != b.length) throw new IllegalArgumentException("vectors of " + a.length + " and " + b.length);
        return switch (this) {
            case SQUARED_L2 -> {
                double s = 0;
                for (int i = 0; i < a.length; i++) s += (a[i] - b[i]) * (a[i] - b[i]);
                yield s;
            }
            case COSINE -> {
                double ab = 0, aa = 0, bb = 0;
                for (int i = 0; i < a.length; i++) {
                    ab += a[i] * b[i];
                    aa += a[i] * a[i];
                    bb += b[i] * b[i];
                }
                yield aa == 0 || bb == 0 ? 1 : 1 - ab / Math.sqrt(aa * bb);
            }
        };
    }
}
