package io.moeprune.runtime;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** What the system says about its memory ({@code /proc/meminfo}). */
final class SystemMemory {
    private SystemMemory() {
    }

    /** MemAvailable in bytes (memory that can be had without swapping, page cache included), or Long.MAX_VALUE. */
    static long availableBytes() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/meminfo"))) {
                if (line.startsWith("MemAvailable:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (IOException | RuntimeException e) {
            return Long.MAX_VALUE;
        }
        return Long.MAX_VALUE;
    }
}
