package io.moeprune.cli;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBarConsumer;

/** Progress bars draw on stderr so stdout stays clean for results and --json. */
final class ProgressBars {
    private ProgressBars() {
    }

    static ProgressBarConsumer consumer() {
        return new ConsoleProgressBarConsumer(System.err);
    }
}
