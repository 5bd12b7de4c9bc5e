package io.moeprune.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * The native side of {@link AmxBf16}: the machine code of {@code src/main/native/amx_bf16.c} (the resource
 * {@code amx_bf16.bin}, built by {@code scripts/build-amx-blob.sh}), mapped executable and called through the FFM
 * API. The Vector API has no AMX (nor VDPBF16PS); this is the one place the runtime runs code it did not get from
 * the JIT. Set up once, on first use:
 * <ol>
 *   <li>Linux on x86-64, with {@code amx_tile} and {@code amx_bf16} among the CPU flags of /proc/cpuinfo;</li>
 *   <li>the process asks the kernel for the tile state ({@code arch_prctl(ARCH_REQ_XCOMP_PERM, XTILEDATA)}), without
 *       which the first tile instruction would kill it;</li>
 *   <li>the blob is copied into an anonymous mapping, which is then made read-and-execute only.</li>
 * </ol>
 * Any step failing leaves the tiles unavailable, with the reason; nothing is thrown.
 *
 * <p>Calls are "critical" (no safepoint inside), so heap arrays go to the kernel without copies. A call covers
 * whole row blocks of an expert, a few hundred microseconds at most.
 */
final class AmxNative {
    private static final long SYS_ARCH_PRCTL = 158;
    private static final long ARCH_REQ_XCOMP_PERM = 0x1023;
    private static final long XFEATURE_XTILEDATA = 18;
    private static final int PROT_READ = 1, PROT_WRITE = 2, PROT_EXEC = 4, MAP_PRIVATE = 2, MAP_ANONYMOUS = 0x20;

    private static final MethodHandle KERNEL;
    /** The 64-byte tile configuration: palette 1, tiles 0-7 of 16 rows × 64 bytes. */
    private static final MemorySegment CONFIG;
    private static final String UNAVAILABLE;

    static {
        MethodHandle kernel = null;
        MemorySegment config = null;
        String why;
        try {
            why = cpuReason();
            if (why == null) {
                Linker linker = Linker.nativeLinker();
                SymbolLookup libc = linker.defaultLookup();
                MethodHandle syscall = linker.downcallHandle(libc.find("syscall").orElseThrow(),
                        FunctionDescriptor.of(ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG,
                                ValueLayout.JAVA_LONG), Linker.Option.firstVariadicArg(1));
                long rc = (long) syscall.invokeExact(SYS_ARCH_PRCTL, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA);
                if (rc != 0) {
                    why = "the kernel refused the AMX tile state (arch_prctl returned " + rc + ")";
                } else {
                    MemorySegment code = mapExecutable(linker, libc, blob());
                    kernel = linker.downcallHandle(code, FunctionDescriptor.ofVoid(ValueLayout.ADDRESS,
                                    ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.ADDRESS, ValueLayout.ADDRESS,
                                    ValueLayout.JAVA_LONG, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG,
                                    ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG),
                            Linker.Option.critical(true));
                    config = Arena.global().allocate(64, 64);
                    config.set(ValueLayout.JAVA_BYTE, 0, (byte) 1);
                    for (int i = 0; i < 8; i++) {
                        config.set(ValueLayout.JAVA_SHORT_UNALIGNED, 16 + 2L * i, (short) 64);
                        config.set(ValueLayout.JAVA_BYTE, 48 + i, (byte) 16);
                    }
                }
            }
        } catch (Throwable e) {
            why = "the AMX kernel could not be set up: " + e;
            kernel = null;
        }
        KERNEL = why == null ? kernel : null;
        CONFIG = config;
        UNAVAILABLE = why;
    }

    private AmxNative() {
    }

    /** Null when the tiles can be used, else why not. */
    static String unavailable() {
        return UNAVAILABLE;
    }

    private static String cpuReason() throws IOException {
        String os = System.getProperty("os.name", ""), arch = System.getProperty("os.arch", "");
        if (!os.startsWith("Linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            return "AMX tiles are used on Linux x86-64 only (this is " + os + " " + arch + ")";
        }
        Path cpuinfo = Path.of("/proc/cpuinfo");
        if (!Files.isReadable(cpuinfo)) return "/proc/cpuinfo is not readable";
        try (var lines = Files.lines(cpuinfo)) {
            String flags = lines.filter(l -> l.startsWith("flags")).findFirst().orElse("");
            String padded = " " + flags.replace('\t', ' ') + " ";
            if (!padded.contains(" amx_tile ") || !padded.contains(" amx_bf16 ")) return "this CPU has no AMX BF16 tiles";
        }
        return null;
    }

    private static byte[] blob() throws IOException {
        try (InputStream in = AmxNative.class.getResourceAsStream("amx_bf16.bin")) {
            if (in == null) throw new IOException("resource amx_bf16.bin is missing from the jar");
            return in.readAllBytes();
        }
    }

    /** The code copied into fresh anonymous pages, then made read + execute (never writable and executable). */
    private static MemorySegment mapExecutable(Linker linker, SymbolLookup libc, byte[] code) throws Throwable {
        MethodHandle mmap = linker.downcallHandle(libc.find("mmap").orElseThrow(), FunctionDescriptor.of(
                ValueLayout.ADDRESS, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT,
                ValueLayout.JAVA_INT, ValueLayout.JAVA_INT, ValueLayout.JAVA_LONG));
        MethodHandle mprotect = linker.downcallHandle(libc.find("mprotect").orElseThrow(), FunctionDescriptor.of(
                ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT));
        long size = (code.length + 4095L) & ~4095L;
        MemorySegment at = (MemorySegment) mmap.invokeExact(MemorySegment.NULL, size, PROT_READ | PROT_WRITE,
                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0L);
        if (at.address() == -1L || at.address() == 0L) throw new IOException("mmap of " + size + " bytes failed");
        MemorySegment pages = at.reinterpret(size);
        MemorySegment.copy(code, 0, pages, ValueLayout.JAVA_BYTE, 0, code.length);
        int rc = (int) mprotect.invokeExact(pages, size, PROT_READ | PROT_EXEC);
        if (rc != 0) throw new IOException("mprotect(PROT_READ | PROT_EXEC) failed");
        return pages;
    }

    /**
     * c[cOff + r·cs + t] = Σ_c w[r, c]·(hi + lo)[c][t0 + t] for r < rows, t < tokens; hi and lo are rows of
     * {@code pairsRow} ints. Arguments are checked by the caller.
     */
    static void multiply(MemorySegment w, long wRowBytes, int[] hi, int[] lo, int t0, int pairsRow, float[] c,
                         int cOff, int cs, int rows, int tokens, int cols) {
        try {
            KERNEL.invokeExact(CONFIG, w, wRowBytes, MemorySegment.ofArray(hi).asSlice(4L * t0),
                    MemorySegment.ofArray(lo).asSlice(4L * t0), 4L * pairsRow,
                    MemorySegment.ofArray(c).asSlice(4L * cOff), 4L * cs, (long) rows, (long) tokens, (long) cols);
        } catch (Throwable e) {
            throw new IllegalStateException("AMX kernel call failed", e);
        }
    }
}
