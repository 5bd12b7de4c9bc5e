package io.moeprune.report;

import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

class RollingWindowsTest {

    @Test
    void everyTokenButTheFirstIsPredictedOnceWithAWindowOfContext() {
        // 10 tokens, window 4: predicted 1-4 (input 0-4), 5-8 (input 4-8), 9 (input 5-9: a full window of context).
        assertEquals(List.of(new RollingWindows(0, 5, 1), new RollingWindows(4, 9, 1), new RollingWindows(5, 10, 4)),
                RollingWindows.of(10, 4));
        for (int length = 0; length < 40; length++) {
            for (int window = 1; window < 12; window++) {
                boolean[] predicted = new boolean[length];
                for (RollingWindows w : RollingWindows.of(length, window)) {
                    assertTrue(w.end() - w.start() <= window + 1, "input fits the window plus one");
                    assertTrue(w.from() >= 1);
                    for (int t = w.start() + w.from(); t < w.end(); t++) {
                        assertTrue(!predicted[t], "token " + t + " predicted twice");
                        predicted[t] = true;
                    }
                }
                for (int t = 1; t < length; t++) assertTrue(predicted[t], "token " + t + " of " + length + " not predicted");
            }
        }
        assertEquals(List.of(new RollingWindows(0, 3, 1)), RollingWindows.of(3, 256), "a short document: one pass");
    }

    @Test
    void implausiblyLowPerplexityIsWarnedAbout() {
        StudyResult study = ReportRenderingTest.report(2.5).study();
        assertEquals(List.of(), ImplausibleLoss.warnings(study));
        StudyResult low = new StudyResult(study.domains(), study.numExperts(),
                Map.of("java", new Quality(0.07, 0.98, 100), "docs", new Quality(4.0, 0.3, 80)), study.inDomain(),
                study.outOfDomain(), study.importance(), study.evalTokens(), study.demoTokens(), study.oodMethod(),
                study.keeps(), study.methods(), study.oodKept(), study.seconds());
        List<String> w = ImplausibleLoss.warnings(low);
        assertEquals(1, w.size());
        assertTrue(w.getFirst().startsWith("the full model's perplexity on java's held-out text is 1.07 (loss 0.070), "
                + "implausibly low"), w.getFirst());
        assertTrue(ReportHtml.render(withStudy(low)).contains("<span class=\"bad\">Warning:</span> the full model's perplexity on java"));
    }

    private static Report withStudy(StudyResult s) {
        Report r = ReportRenderingTest.report(2.5);
        return new Report(r.config(), r.modelName(), r.family(), r.layers(), r.moeLayers(), r.topK(), s, r.models(),
                r.threads(), r.machine(), r.created(), r.seconds());
    }
}
