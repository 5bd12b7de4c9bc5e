package io.moeprune.runtime;

import io.moeprune.kernels.KernelSwitches;
import io.moeprune.kernels.Parallel;
import io.moeprune.model.ModelSpec;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

/**
 * How a decode step is scheduled over the threads (owned chunks, the next product read ahead) changes no float:
 * greedy decode steps give the same logits with every scheduling switch on and off. The work per thread is forced
 * low so that the fixtures' tiny products do split over four threads.
 */
class DecodeSchedulingTest {

    @ParameterizedTest
    @ValueSource(strings = {"qwen3_moe", "qwen2_moe", "olmoe", "mixtral", "deepseek_v3"})
    void schedulingChangesNoLogit(String fixture) throws Exception {
        Path dir = ConformanceTest.FIXTURES.resolve(fixture);
        ModelSpec spec = TestModels.spec(dir);
        int threads = Parallel.threads();
        long work = KernelSwitches.minWorkPerThread(256);
        boolean owned = KernelSwitches.ownedChunks(true), ahead = KernelSwitches.readAhead(true);
        Parallel.setThreads(4);
        try (Model model = Model.load(dir, spec)) {
            float[][] scheduled = decode(model, 6);
            KernelSwitches.ownedChunks(false);
            KernelSwitches.readAhead(false);
            float[][] plain = decode(model, 6);
            for (int s = 0; s < plain.length; s++) assertArrayEquals(plain[s], scheduled[s], fixture + ", step " + s);
        } finally {
            Parallel.setThreads(threads);
            KernelSwitches.minWorkPerThread(work);
            KernelSwitches.ownedChunks(owned);
            KernelSwitches.readAhead(ahead);
        }
    }

    /** Logits of a short prompt's prefill, then of {@code steps} greedy decode steps. */
    private static float[][] decode(Model model, int steps) {
        int[] prompt = {193, 124, 136, 57, 80, 148, 149, 133};
        InferenceState state = model.newState();
        float[][] logits = new float[steps + 1][];
        logits[0] = model.forward(prompt, state, false);
        for (int s = 1; s <= steps; s++) logits[s] = model.decode(argmax(logits[s - 1]), state);
        return logits;
    }

    private static int argmax(float[] x) {
        int best = 0;
        for (int i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
        return best;
    }
}
