package io.moeprune.bench;

import io.moeprune.runtime.LayerPages;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Starts a benchmark run from cold storage: as root, the whole page cache is dropped ({@code sync}, then 3 to
 * /proc/sys/vm/drop_caches), as issue 20's measurement did; otherwise only the checkpoint's own pages are given back
 * ({@link LayerPages#releaseAll}: madvise + posix_fadvise DONTNEED), which needs no privilege and leaves the rest of
 * the cache (other processes' files) warm.
 */
final class ColdCache {
    private static final Path DROP = Path.of("/proc/sys/vm/drop_caches");

    private final LayerPages pages;
    private final boolean dropAll;

    ColdCache(LayerPages pages) {
        this.pages = pages;
        this.dropAll = Files.isWritable(DROP) && tryDrop();
    }

    /** How runs start cold, for the table's heading. */
    String how() {
        return dropAll ? "page cache dropped before each run (sync; echo 3 > /proc/sys/vm/drop_caches)"
                : "not root: only the checkpoint's pages given back before each run (madvise/posix_fadvise DONTNEED)";
    }

    /** Empties the cache of the checkpoint's pages (of every page, as root). */
    void drop() {
        pages.releaseAll();
        if (dropAll && !tryDrop()) throw new IllegalStateException("could not drop the page cache a second time");
    }

    private static boolean tryDrop() {
        try {
            new ProcessBuilder("sync").inheritIO().start().waitFor();
            Files.writeString(DROP, "3");
            return true;
        } catch (IOException e) {
            return false;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }
}
