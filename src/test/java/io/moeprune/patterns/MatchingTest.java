package io.moeprune.patterns;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;

class MatchingTest {

    @Test
    void distancesAreSquaredL2AndOneMinusCosine() {
        double[] a = {1, 0, 2}, b = {0, 1, 2};
        assertEquals(2.0, Distance.SQUARED_L2.between(a, b), 1e-12);
        assertEquals(1 - 4.0 / 5.0, Distance.COSINE.between(a, b), 1e-12);
        assertEquals(0.0, Distance.COSINE.between(a, new double[]{2, 0, 4}), 1e-12, "scale does not matter");
        assertEquals(1.0, Distance.COSINE.between(a, new double[3]), 1e-12, "a zero vector is far from everything");
    }

    @Test
    void patternsAreRankedNearestFirst() {
        List<TaskPattern> stored = List.of(pattern("far", 0, 1), pattern("near", 1, 0.1), pattern("mid", 1, 1));
        List<PatternMatcher.Match> r = PatternMatcher.rank(stored, sig(1, 0), SignatureKind.HIDDEN);
        assertEquals(List.of("near", "mid", "far"), r.stream().map(PatternMatcher.Match::task).toList());
        assertEquals(1.0, r.get(2).distance(), 1e-12);
        // PreMoe's key ranks by squared L2: scale matters
        List<PatternMatcher.Match> l2 = PatternMatcher.rank(List.of(pattern("big", 10, 0), pattern("small", 0, 1)),
                sig(1, 0), SignatureKind.PREMOE);
        assertEquals("small", l2.getFirst().task());
        assertEquals(2.0, l2.getFirst().distance(), 1e-12);
    }

    @Test
    void confusionMatrixCountsAndAccuracy() {
        ConfusionMatrix cm = new ConfusionMatrix();
        cm.add("math", "math");
        cm.add("math", "finance");
        cm.add("java", "java");
        cm.add("java", "java");
        assertEquals(0.75, cm.accuracy(), 1e-12);
        assertEquals(1, cm.count("math", "finance"));
        assertEquals(List.of("finance", "java", "math"), cm.columns());
        String md = cm.markdown();
        assertEquals("| math | 1 | . | 1 | 50 % |", md.lines().filter(l -> l.startsWith("| math")).findFirst().orElseThrow());
        assertEquals(true, md.contains("accuracy 75.0 % (3 of 4)"));
    }

    static TaskPattern pattern(String name, double x, double y) {
        return new TaskPattern(name, null, sig(x, y));
    }

    static Signatures sig(double x, double y) {
        return new Signatures(1, 1, Map.of(SignatureKind.HIDDEN, new double[]{x, y}, SignatureKind.PREMOE, new double[]{x, y}));
    }
}
