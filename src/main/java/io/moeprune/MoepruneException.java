package io.moeprune;

import java.nio.file.Path;

/**
 * An error the user can act on: bad input, a missing file, an impossible request. The command line prints
 * {@link #getMessage()} as one line (no stack trace) and exits with {@link #exitCode()}.
 */
public class MoepruneException extends RuntimeException {
    /** Exit code for bad input (a file or argument the user gave is wrong). */
    public static final int BAD_INPUT = 2;
    /** Exit code for a failure while doing the work (I/O error while writing, a verification that failed). */
    public static final int FAILED = 1;

    private final int exitCode;

    public MoepruneException(String message) {
        this(message, BAD_INPUT, null);
    }

    public MoepruneException(String message, Throwable cause) {
        this(message, BAD_INPUT, cause);
    }

    public MoepruneException(String message, int exitCode, Throwable cause) {
        super(message, cause);
        this.exitCode = exitCode;
    }

    /** An error about one file: the message starts with the file so the user knows where to look. */
    public static MoepruneException inFile(Path file, String problem) {
        return new MoepruneException(file + ": " + problem);
    }

    public int exitCode() {
        return exitCode;
    }
}
