package io.moeprune.io;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Path;

/**
 * Advice to the kernel about pages of memory-mapped files, through FFM (Linux; elsewhere every call does nothing):
 * read a range ahead ({@code madvise WILLNEED}), and give a range back (unmap it from this process with
 * {@code madvise DONTNEED}, then drop it from the page cache with {@code posix_fadvise DONTNEED}, which only drops
 * pages nobody maps). Advice only: a failed call changes what is resident, never what a read returns.
 */
public final class PageAdvice {
    private static final int MADV_WILLNEED = 3, MADV_DONTNEED = 4, POSIX_FADV_DONTNEED = 4, O_RDONLY = 0;
    private static final long PAGE = 4096;
    private static final MethodHandle MADVISE, FADVISE, OPEN, CLOSE;

    static {
        MethodHandle madvise = null, fadvise = null, open = null, close = null;
        if (System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
            try {
                Linker linker = Linker.nativeLinker();
                var libc = linker.defaultLookup();
                madvise = linker.downcallHandle(libc.find("madvise").orElseThrow(), FunctionDescriptor.of(
                        ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
                fadvise = linker.downcallHandle(libc.find("posix_fadvise").orElseThrow(), FunctionDescriptor.of(
                        ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_INT));
                open = linker.downcallHandle(libc.find("open").orElseThrow(), FunctionDescriptor.of(
                        ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT), Linker.Option.firstVariadicArg(2));
                close = linker.downcallHandle(libc.find("close").orElseThrow(),
                        FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            } catch (RuntimeException | LinkageError e) {
                madvise = null;     // no libc to call: advice is optional
            }
        }
        MADVISE = madvise;
        FADVISE = fadvise;
        OPEN = open;
        CLOSE = close;
    }

    private PageAdvice() {
    }

    /** Whether the calls do anything here. */
    public static boolean available() {
        return MADVISE != null;
    }

    /** Starts reading the pages of {@code range} (a slice of a file mapping) in the background. */
    public static void willNeed(MemorySegment range) {
        madvise(range, MADV_WILLNEED);
    }

    /**
     * Gives back the pages of {@code range}, a slice of the mapping of {@code file} at {@code fileOffset}: unmapped
     * here, and dropped from the page cache if no other process maps them. The next read faults them in again.
     */
    public static void release(MemorySegment range, Path file, long fileOffset) {
        if (!available()) return;
        madvise(range, MADV_DONTNEED);
        try (Arena arena = Arena.ofConfined()) {
            int fd = (int) OPEN.invokeExact(arena.allocateFrom(file.toString()), O_RDONLY);
            if (fd < 0) return;
            int ignored = (int) FADVISE.invokeExact(fd, fileOffset, range.byteSize(), POSIX_FADV_DONTNEED);
            ignored = (int) CLOSE.invokeExact(fd);
        } catch (Throwable e) {
            throw new IllegalStateException("posix_fadvise on " + file, e);
        }
    }

    /**
     * Gives back this process's pages of {@code range} (a slice of a file mapping: {@code madvise DONTNEED}), leaving
     * the page cache as it is: after the range was copied elsewhere, its file pages no longer count in this process's
     * resident set. The next read faults them in again; the pages {@code range} shares at its ends with neighbours
     * are given back too (they fault in again when read).
     */
    public static void dropFromProcess(MemorySegment range) {
        // Never on anonymous memory, where DONTNEED would zero it: the caller knows (a checkpoint's tensors are plain
        // native views of its mapping, so isMapped() cannot tell; Checkpoint.maps can).
        madvise(range, MADV_DONTNEED);
    }

    /** madvise over the pages {@code range} touches (the start rounded down to a page). */
    private static void madvise(MemorySegment range, int advice) {
        if (!available() || range.byteSize() == 0) return;
        long start = range.address() & -PAGE;
        try {
            int ignored = (int) MADVISE.invokeExact(start, range.address() + range.byteSize() - start, advice);
        } catch (Throwable e) {
            throw new IllegalStateException("madvise", e);
        }
    }
}
