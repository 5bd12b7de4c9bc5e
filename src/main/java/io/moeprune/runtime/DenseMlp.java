package io.moeprune.runtime;

/** A dense SwiGLU MLP layer (e.g. Qwen3-MoE's mlp_only_layers). */
public record DenseMlp(SwiGlu mlp) implements FeedForward {
    @Override
    public void forward(float[] xn, float[] h, int n, int startPos, ForwardContext ctx, float[] out) {
        long t = PhaseTimes.start();
        mlp.apply(xn, n, out, n == 1 ? NextProducts.takeAfterFeedForward() : null);
        PhaseTimes.end(PhaseTimes.Phase.DENSE_MLP, t);
    }

    @Override
    public io.moeprune.kernels.Parallel.NextCall firstProduct() {
        return mlp.firstProduct();
    }
}
