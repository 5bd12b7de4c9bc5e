package io.moeprune.prune;

import java.io.IOException;

/**
 * A failure injected into the write path, as a full disk would cause it midway (a test seam: a tiny tmpfs is not
 * available everywhere). {@link #check} is called just before each tensor's bytes go into a shard and before each
 * auxiliary file is copied; throwing from it fails the pruning at that point.
 */
@FunctionalInterface
public interface WriteFault {
    WriteFault NONE = what -> {
    };

    /** {@code what} is "tensor NAME" or "file RELATIVE/PATH". */
    void check(String what) throws IOException;
}
