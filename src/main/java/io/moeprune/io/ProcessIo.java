package io.moeprune.io;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What the kernel counts of this process's storage reads ({@code /proc/self/io}). */
public final class ProcessIo {
    private static final Path IO = Path.of("/proc/self/io");

    private ProcessIo() {
    }

    /**
     * Bytes this process has caused to be read from storage (read_bytes: page-cache misses of reads and of mapped
     * pages alike), or -1 where the system does not say.
     */
    public static long readBytes() {
        try {
            for (String line : Files.readAllLines(IO)) {
                if (line.startsWith("read_bytes:")) return Long.parseLong(line.substring(11).trim());
            }
        } catch (IOException | RuntimeException e) {
            return -1;
        }
        return -1;
    }
}
