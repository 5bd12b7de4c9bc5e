package io.moeprune.runtime;

/**
 * The forward passes of one generation, on whichever runtime runs it: the prompt's, then one token at a time, each
 * returning the last position's logits [vocab]. {@link Generator} drives them (sampling and stopping are the same on
 * every runtime); the CPU's are {@link Model#forward}/{@link Model#decode} over an {@link InferenceState}, the GPU's
 * keep the weights and the KV cache on the device (io.moeprune.gpu.runtime).
 */
public interface DecodeSteps extends AutoCloseable {
    /** Runs the prompt; its last position's logits. */
    float[] prefill(int[] prompt);

    /** Runs one more token; its logits. */
    float[] decode(int token);

    /**
     * Runs the prompt; the greedy next token ({@link Sampler#argmax} of its last position's logits). A runtime that
     * can pick it where the logits are (the GPU's) overrides this and never brings the logits to the host.
     */
    default int prefillGreedy(int[] prompt) {
        float[] logits = prefill(prompt);
        return Sampler.argmax(logits, 0, logits.length);
    }

    /** Runs one more token; the greedy next token ({@link #prefillGreedy}'s argmax of its logits). */
    default int decodeGreedy(int token) {
        float[] logits = decode(token);
        return Sampler.argmax(logits, 0, logits.length);
    }

    @Override
    void close();

    /** Opens the steps of one generation of at most {@code positions} positions (prompt and new tokens). */
    @FunctionalInterface
    interface Factory {
        DecodeSteps open(Model model, ExpertMask mask, int positions);
    }

    /** The CPU runtime's steps: the model's own forward and decode with a KV cache in host memory. */
    Factory CPU = (model, mask, positions) -> {
        InferenceState state = model.newState(positions).withMask(mask);
        return new DecodeSteps() {
            @Override
            public float[] prefill(int[] prompt) {
                return model.forward(prompt, state, false);
            }

            @Override
            public float[] decode(int token) {
                return model.decode(token, state);
            }

            @Override
            public void close() {
            }
        };
    };
}
