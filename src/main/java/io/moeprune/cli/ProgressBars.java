package io.moeprune.cli;

import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBarConsumer;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Progress bars draw on stderr so stdout stays clean for results and --json, and only when stderr is a terminal:
 * redirected to a file or a pipe, their carriage-return frames would fill it with hundreds of half lines.
 */
final class ProgressBars {
    private static final int STDERR = 2;
    private static final boolean STDERR_IS_TERMINAL = isTerminal(STDERR);

    private ProgressBars() {
    }

    /** The consumer for a bar: draws on stderr unless {@code quiet} or stderr is not a terminal. */
    static ProgressBarConsumer consumer(boolean quiet) {
        return quiet || !STDERR_IS_TERMINAL ? new SilentConsumer() : new ConsoleProgressBarConsumer(System.err);
    }

    /**
     * C's isatty(fd) through FFM: Java itself only tells whether stdin and stdout are a terminal (System.console).
     * Where the C library cannot be called, no bars: a missing bar costs nothing, a stray one spoils a log.
     */
    static boolean isTerminal(int fd) {
        try {
            Linker linker = Linker.nativeLinker();
            var symbol = linker.defaultLookup().find("isatty");
            if (symbol.isEmpty()) return false;
            MethodHandle isatty = linker.downcallHandle(symbol.get(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            return (int) isatty.invokeExact(fd) == 1;
        } catch (Throwable e) {   // no native access, no libc: treat as not a terminal
            return false;
        }
    }
}
