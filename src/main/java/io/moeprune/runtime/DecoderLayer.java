package io.moeprune.runtime;

/** Pre-norm decoder layer: x += attn(norm(x)); x += ffn(norm(x)) (branches × the residual multiplier). */
public record DecoderLayer(int index, RmsNorm inputNorm, AttentionLayer attention, RmsNorm postAttentionNorm,
                           FeedForward feedForward, float residualMultiplier) {

    /** Runs the layer in place on the residual rows x [n, hidden]. */
    public void forward(float[] x, int n, int startPos, KvCache cache, ForwardContext ctx) {
        int size = x.length;
        float[] xn = inputNorm.normalizedRows(x, n);
        float[] branch = new float[size];
        attention.forward(xn, n, startPos, cache, index, branch);
        addScaled(x, branch);
        // x now is the residual entering the MLP block: observers see it as h (valid during their call only).
        postAttentionNorm.normalizedRows(x, n, xn);
        feedForward.forward(xn, x, n, startPos, ctx, branch);
        addScaled(x, branch);
    }

    private void addScaled(float[] x, float[] branch) {
        float m = residualMultiplier;
        if (m == 1f) {
            for (int i = 0; i < x.length; i++) x[i] += branch[i];
        } else {
            for (int i = 0; i < x.length; i++) x[i] += m * branch[i];
        }
    }
}
