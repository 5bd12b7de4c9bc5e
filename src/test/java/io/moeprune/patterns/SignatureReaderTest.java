package io.moeprune.patterns;

import io.moeprune.model.ConfigReader;
import io.moeprune.model.ModelSpec;
import io.moeprune.runtime.Model;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.EnumSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

/** Signatures equal the means over tokens of what a full forward pass shows the MoE blocks (fixture: MoE, dense, MoE). */
class SignatureReaderTest {
    static final Path QWEN3 = Path.of("src/test/resources/conformance/qwen3_moe");
    static final int[] A = {193, 124, 136, 57, 80, 148, 149, 133}, B = {29, 141, 216, 168, 7};

    /** h and raw router logits of every token at each MoE layer, from a full forward pass. */
    record Seen(int layer, int n, float[] h, float[] logits) {
    }

    static List<Seen> observe(Model model, int[] tokens) {
        List<Seen> seen = new ArrayList<>();
        var state = model.newState().withObserver(t -> seen.add(new Seen(t.layer(), t.n(), t.residualIn().clone(),
                t.routerLogits().clone())));
        model.forward(tokens, state, false);
        return seen;
    }

    @Test
    void everyKindIsTheMeanOverAllTokensOfAllSequences() {
        ModelSpec spec = ConfigReader.read(QWEN3);
        int e = spec.moe().numExperts(), hidden = spec.hiddenSize();
        try (Model model = Model.load(QWEN3, spec)) {
            Signatures s = new SignatureReader(model, 2, EnumSet.allOf(SignatureKind.class)).read(List.of(A, B));
            assertEquals(A.length + B.length, s.tokens());
            double[] premoe = new double[e], probs = new double[2 * e], states = new double[2 * hidden];
            for (int[] seq : List.of(A, B)) {
                List<Seen> seen = observe(model, seq);
                for (int pos = 0; pos < 2; pos++) {
                    Seen l = seen.get(pos);
                    for (int t = 0; t < l.n(); t++) {
                        int top = 0;
                        double max = Double.NEGATIVE_INFINITY, sum = 0;
                        for (int x = 0; x < e; x++) {
                            if (l.logits()[t * e + x] > l.logits()[t * e + top]) top = x;
                            max = Math.max(max, l.logits()[t * e + x]);
                        }
                        if (pos == 0) premoe[top] += l.logits()[t * e + top];
                        for (int x = 0; x < e; x++) sum += Math.exp(l.logits()[t * e + x] - max);
                        for (int x = 0; x < e; x++) probs[pos * e + x] += Math.exp(l.logits()[t * e + x] - max) / sum;
                        for (int i = 0; i < hidden; i++) states[pos * hidden + i] += l.h()[t * hidden + i];
                    }
                }
            }
            int n = A.length + B.length;
            assertArrayEquals(scaled(premoe, n), s.of(SignatureKind.PREMOE), 1e-5);
            assertArrayEquals(scaled(probs, n), s.of(SignatureKind.ROUTER_PROBS), 1e-5);
            assertArrayEquals(scaled(states, n), s.of(SignatureKind.HIDDEN), 1e-4);
            double probSum = 0;
            for (int x = 0; x < e; x++) probSum += s.of(SignatureKind.ROUTER_PROBS)[x];
            assertEquals(1.0, probSum, 1e-6, "a mean of distributions is a distribution");
        }
    }

    @Test
    void premoeAloneReadsOnlyTheFirstMoeLayer() {
        ModelSpec spec = ConfigReader.read(QWEN3);
        try (Model model = Model.load(QWEN3, spec)) {
            assertEquals(1, new SignatureReader(model, 2, Set.of(SignatureKind.PREMOE)).layersRead());
            assertEquals(2, new SignatureReader(model, 2, Set.of(SignatureKind.PREMOE, SignatureKind.HIDDEN)).layersRead());
            Signatures alone = new SignatureReader(model, 2, Set.of(SignatureKind.PREMOE)).read(List.of(A));
            Signatures both = new SignatureReader(model, 2, EnumSet.allOf(SignatureKind.class)).read(List.of(A));
            assertArrayEquals(both.of(SignatureKind.PREMOE), alone.of(SignatureKind.PREMOE), 1e-6);
        }
    }

    private static double[] scaled(double[] v, int n) {
        double[] r = v.clone();
        for (int i = 0; i < r.length; i++) r[i] /= n;
        return r;
    }
}
