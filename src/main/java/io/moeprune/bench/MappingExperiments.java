package io.moeprune.bench;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

/**
 * Linux-only tools for {@link MappedReadBench}'s question (why a mapped checkpoint reads slower than anonymous
 * memory): madvise on a mapping, a file mapped at a 2 MiB-aligned address (the kernel can only map a large page-cache
 * folio with one page-table entry where the virtual address and the file offset agree modulo 2 MiB), and what
 * /proc/self/smaps says about a mapping's huge-page use.
 */
final class MappingExperiments {
    private static final long HUGE = 2L << 20;
    private static final int PROT_NONE = 0, PROT_READ = 1, MAP_SHARED = 1, MAP_PRIVATE = 2, MAP_FIXED = 0x10,
            MAP_ANONYMOUS = 0x20, O_RDONLY = 0;
    private static final Linker LINKER = Linker.nativeLinker();

    private MappingExperiments() {
    }

    /** The madvise advice of a name: hugepage, nohugepage, willneed, sequential, random, populate_read, collapse. */
    static int advice(String name) {
        return switch (name) {
            case "random" -> 1;
            case "sequential" -> 2;
            case "willneed" -> 3;
            case "hugepage" -> 14;
            case "nohugepage" -> 15;
            case "populate_read" -> 22;
            case "collapse" -> 25;
            default -> throw new IllegalArgumentException("unknown advice " + name);
        };
    }

    /** madvise over the whole segment (page-aligned); returns 0 or -errno-ish (-1). */
    static int madvise(MemorySegment m, String advice) {
        try {
            MethodHandle h = LINKER.downcallHandle(LINKER.defaultLookup().find("madvise").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_INT), Linker.Option.captureCallState("errno"));
            MemorySegment state = Arena.ofAuto().allocate(Linker.Option.captureStateLayout());
            long start = m.address() & ~4095L;
            int rc = (int) h.invokeExact(state, start, m.address() + m.byteSize() - start, advice(advice));
            if (rc == 0) return 0;
            return -state.get(ValueLayout.JAVA_INT, Linker.Option.captureStateLayout().byteOffset(
                    java.lang.foreign.MemoryLayout.PathElement.groupElement("errno")));
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * {@code size} bytes of {@code file} mapped read-only and shared at a 2 MiB-aligned address: a PROT_NONE
     * reservation 2 MiB larger, then the file mapped over its aligned part (MAP_FIXED). Unmapped with the arena's
     * end only in part (the reservation's edges stay reserved): fine for a benchmark process.
     */
    static MemorySegment mapAligned(Path file, long size, Arena arena) throws IOException {
        try {
            MethodHandle open = LINKER.downcallHandle(LINKER.defaultLookup().find("open").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_INT),
                    Linker.Option.firstVariadicArg(2));
            MethodHandle mmap = LINKER.downcallHandle(LINKER.defaultLookup().find("mmap").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                            ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
            int fd = (int) open.invokeExact(arena.allocateFrom(file.toString()), O_RDONLY);
            if (fd < 0) throw new IOException("cannot open " + file);
            long reserve = (long) mmap.invokeExact(0L, size + HUGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0L);
            if (reserve == -1L) throw new IOException("cannot reserve " + (size + HUGE) + " bytes");
            long aligned = (reserve + HUGE - 1) & -HUGE;
            long at = (long) mmap.invokeExact(aligned, size, PROT_READ, MAP_SHARED | MAP_FIXED, fd, 0L);
            if (at != aligned) throw new IOException("cannot map " + file + " at " + Long.toHexString(aligned));
            return MemorySegment.ofAddress(at).reinterpret(size);
        } catch (IOException e) {
            throw e;
        } catch (Throwable e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * One line on the mapping that contains {@code address}: its smaps Rss, and how much of it is mapped with huge
     * pages (AnonHugePages, FilePmdMapped, ShmemPmdMapped), plus the per-mapping THP eligibility.
     */
    static String smaps(MemorySegment m) {
        long address = m.address();
        try {
            List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
            StringBuilder out = new StringBuilder();
            boolean inside = false;
            for (String line : lines) {
                String[] f = line.split("\\s+");
                if (f.length > 0 && f[0].matches("[0-9a-f]+-[0-9a-f]+")) {
                    String[] r = f[0].split("-");
                    long lo = Long.parseUnsignedLong(r[0], 16), hi = Long.parseUnsignedLong(r[1], 16);
                    inside = address >= lo && address < hi;
                    if (inside) out.append(f[0]).append(f.length > 5 ? " " + f[f.length - 1] : " [anon]");
                } else if (inside && (line.startsWith("Rss:") || line.startsWith("AnonHugePages:")
                        || line.startsWith("FilePmdMapped:") || line.startsWith("ShmemPmdMapped:")
                        || line.startsWith("THPeligible:"))) {
                    out.append(" | ").append(line.replaceAll("\\s+", " "));
                }
            }
            return out.toString();
        } catch (IOException e) {
            return "smaps unreadable: " + e.getMessage();
        }
    }
}
