package io.moeprune.fuzz;

/** What one stage did with one corrupted input. */
enum Outcome {
    /** Ran to the end (the corruption was harmless, or not detectable at this stage). */
    ACCEPTED,
    /** A MoepruneException whose message is one line naming a file of the case. */
    CLEAN_ERROR,
    /** Anything else: another exception, or a MoepruneException with a multi-line message or naming no file. */
    UNEXPECTED,
    /** Did not finish within the per-case timeout. */
    HANG
}
