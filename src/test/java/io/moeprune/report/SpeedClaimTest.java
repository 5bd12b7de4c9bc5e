package io.moeprune.report;

import org.junit.jupiter.api.Test;

import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

class SpeedClaimTest {
    private static ModelMeasurement model(String label, long activeBytes, Spread decode) {
        Throughput t = new Throughput(new Spread(1000, 900, 1100), decode, 128, 32, 3);
        Quality q = new Quality(2.0, 0.5, 100);
        return new ModelMeasurement(label, Path.of(label), 4, 1, 1, activeBytes, 1, t, q, label.equals("full") ? null : q, 0);
    }

    @Test
    void spreadKeepsMedianAndRange() {
        Spread s = Spread.of(new double[]{492, 380, 400});
        assertEquals(new Spread(400, 380, 492), s);
        assertEquals("400.0 (380-492)", s.format());
        assertEquals(390, Spread.of(new double[]{400, 380}).median());
        assertTrue(new Spread(600, 500, 700).clearlyAbove(s));
        assertFalse(new Spread(587, 480, 600).clearlyAbove(s), "ranges overlap: no claim");
    }

    @Test
    void aModelReadingNearlyAllWeightsIsNeverFaster() {
        // The case: 587 vs 400 tokens/s for a checkpoint reading 99 % of the full model's weights per token.
        ModelMeasurement full = model("full", 1_000_000, Spread.of(new double[]{380, 400, 492}));
        ModelMeasurement pruned = model("p", 990_000, Spread.of(new double[]{570, 587, 600}));
        String claim = SpeedClaim.decode(pruned, full);
        assertTrue(claim.startsWith("no decode speed-up to expect from pruning: it reads 99.0% of the full model's "
                + "weights per token (measured 587.0 (570-600) vs 400.0 (380-492) tokens/s"), claim);
        assertFalse(claim.contains("faster"));
    }

    @Test
    void aSpeedUpIsClaimedOnlyBeyondTheSpread() {
        ModelMeasurement full = model("full", 1_000_000, Spread.of(new double[]{380, 400, 492}));
        assertEquals("decode 1.50x faster (600.0 (550-650) vs 400.0 (380-492) tokens/s, median (range) of 3 runs)",
                SpeedClaim.decode(model("p", 500_000, Spread.of(new double[]{550, 600, 650})), full));
        assertTrue(SpeedClaim.decode(model("p", 500_000, Spread.of(new double[]{450, 600, 650})), full)
                .startsWith("decode speed the same within the spread of the runs"));
        assertTrue(SpeedClaim.decode(model("p", 500_000, Spread.of(new double[]{200, 300, 350})), full)
                .startsWith("decode 0.75x slower"));
    }
}
