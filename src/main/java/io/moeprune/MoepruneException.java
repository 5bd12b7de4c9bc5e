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
        return new MoepruneException(file + ": " + oneLine(problem));
    }

    /**
     * Text safe to print on one line: control characters (newlines in a hostile file's strings) become '?', and
     * the text is cut to what a terminal line can show.
     */
    public static String oneLine(String s) {
        if (s == null) return "";
        StringBuilder b = new StringBuilder(Math.min(s.length(), 400));
        for (int i = 0; i < s.length() && b.length() < 400; i++) {
            char c = s.charAt(i);
            b.append(Character.isISOControl(c) || c == '\u2028' || c == '\u2029' ? '?' : c);
        }
        if (b.length() < s.length()) b.append("...");
        return b.toString();
    }

    public int exitCode() {
        return exitCode;
    }
}
