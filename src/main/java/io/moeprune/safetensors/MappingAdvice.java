package io.moeprune.safetensors;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.Locale;
import java.util.Optional;

/**
 * Optional {@code madvise} on mapped checkpoints, chosen by {@code -Dmoeprune.madvise}: {@code none} (default),
 * {@code hugepage} (MADV_HUGEPAGE: let the kernel back the mapping with 2 MiB pages where the file system's page
 * cache can) or {@code collapse} (MADV_COLLAPSE, Linux 6.1+: collapse what is cached now into huge pages). Page-cache
 * pages of 4 KiB cost a TLB miss per 4 KiB when a decode step streams the weights; whether the kernel can do better
 * depends on its version and file system, so this is a measured switch, not a default. Best effort: a refusal (or
 * a platform without madvise) leaves the mapping as it is.
 */
final class MappingAdvice {
    private static final int MADV_HUGEPAGE = 14;
    private static final int MADV_COLLAPSE = 25;
    private static final String MODE = System.getProperty("moeprune.madvise", "none").toLowerCase(Locale.ROOT);
    private static final MethodHandle MADVISE = MODE.equals("none") ? null : lookup();

    private MappingAdvice() {
    }

    private static MethodHandle lookup() {
        try {
            Linker linker = Linker.nativeLinker();
            Optional<MemorySegment> f = linker.defaultLookup().find("madvise");
            return f.map(s -> linker.downcallHandle(s, FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS,
                    ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT))).orElse(null);
        } catch (RuntimeException | LinkageError e) {
            return null;
        }
    }

    /** Applies the configured advice to a whole mapping (page-aligned: it starts at file offset 0). */
    static void apply(MemorySegment mapping) {
        if (MADVISE == null || mapping.byteSize() == 0) return;
        int advice = switch (MODE) {
            case "hugepage" -> MADV_HUGEPAGE;
            case "collapse" -> MADV_COLLAPSE;
            default -> -1;
        };
        if (advice < 0) return;
        try {
            int rc = (int) MADVISE.invokeExact(mapping, mapping.byteSize(), advice);
            if (rc != 0 && Boolean.getBoolean("moeprune.madvise.verbose")) {
                System.err.println("madvise(" + MODE + ") refused on a mapping of " + mapping.byteSize() + " bytes");
            }
        } catch (Throwable e) {
            // best effort: the mapping works without the advice
        }
    }
}
