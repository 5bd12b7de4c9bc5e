package io.moeprune.fuzz;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** A short seeded run of the fault campaign: every corrupted input is accepted or refused in one clean line. */
class FuzzCampaignTest {
    @TempDir
    Path tmp;

    @Test
    void shortCampaignHasNoUnexpectedOutcomes() throws IOException {
        FuzzCampaign.Summary s = FuzzCampaign.run(new FuzzCampaign.Settings(40, 24, 20261206, 20_000), tmp);
        assertEquals(0, s.total(Outcome.UNEXPECTED) + s.total(Outcome.HANG), s.table() + String.join("\n", s.examples()));
        assertTrue(s.total(Outcome.CLEAN_ERROR) > 100, s.table());
        assertTrue(s.total(Outcome.ACCEPTED) > 10, "some corruptions are harmless: " + s.table());
    }
}
