package io.moeprune.report;

import java.util.List;

/** Test access to package-private helpers of {@link QuickstartData}. */
public final class QuickstartDataAccess {
    private QuickstartDataAccess() {
    }

    public static List<String> sections(String markdown) {
        return QuickstartData.sections(markdown);
    }
}
