package io.moeprune.io;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Large scratch memory outside the heap as anonymous pages (Linux {@code mmap}, through FFM): reserving costs nothing,
 * and each page is zeroed by the kernel when a thread first writes it, so the threads that fill it share that work.
 * {@code Arena.allocate} zeroes the whole block on the allocating thread first (DeepSeek-V3's 22.5 GB of
 * dequantised experts a layer: seconds on one thread). Elsewhere {@link #reserve} returns null.
 */
public final class AnonymousMemory {
    private static final int PROT_READ = 1, PROT_WRITE = 2, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20, MAP_NORESERVE = 0x4000;
    private static final MethodHandle MMAP, MUNMAP;

    static {
        MethodHandle mmap = null, munmap = null;
        if (System.getProperty("os.name", "").toLowerCase(java.util.Locale.ROOT).contains("linux")) {
            try {
                Linker linker = Linker.nativeLinker();
                var libc = linker.defaultLookup();
                mmap = linker.downcallHandle(libc.find("mmap").orElseThrow(), FunctionDescriptor.of(ValueLayout.JAVA_LONG,
                        ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT,
                        ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
                munmap = linker.downcallHandle(libc.find("munmap").orElseThrow(), FunctionDescriptor.of(
                        ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
            } catch (RuntimeException | LinkageError e) {
                mmap = null;     // no libc to call: callers allocate otherwise
            }
        }
        MMAP = mmap;
        MUNMAP = munmap;
    }

    private AnonymousMemory() {
    }

    /** {@code bytes} of fresh zero pages, readable from any thread until {@link #release}; null where unavailable. */
    public static MemorySegment reserve(long bytes) {
        if (MMAP == null || bytes <= 0) return null;
        try {
            long at = (long) MMAP.invokeExact(0L, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                    -1, 0L);
            if (at == -1L || at == 0L) return null;
            return MemorySegment.ofAddress(at).reinterpret(bytes);
        } catch (Throwable e) {
            return null;
        }
    }

    /** Gives the pages of a {@link #reserve}d segment back; nothing may read it afterwards. */
    public static void release(MemorySegment reserved) {
        try {
            int rc = (int) MUNMAP.invokeExact(reserved.address(), reserved.byteSize());
            if (rc != 0) throw new IllegalStateException("munmap of " + reserved.byteSize() + " bytes failed");
        } catch (RuntimeException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException("munmap failed", e);
        }
    }
}
