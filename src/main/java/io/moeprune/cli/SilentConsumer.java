package io.moeprune.cli;

import me.tongfei.progressbar.ProgressBarConsumer;

/** A progress-bar consumer that draws nothing (--quiet, tests). */
final class SilentConsumer implements ProgressBarConsumer {
    @Override
    public int getMaxRenderedLength() {
        return 80;
    }

    @Override
    public void accept(String rendered) {
    }

    @Override
    public void close() {
    }
}
