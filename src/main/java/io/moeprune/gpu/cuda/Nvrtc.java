package io.moeprune.gpu.cuda;

import io.moeprune.MoepruneException;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.util.List;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_BYTE;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

/**
 * NVRTC ({@code libnvrtc.so.13}) through FFM: CUDA C++ source to a CUBIN for the device's own architecture at run
 * time, so the jar carries kernel source and needs no native build step.
 */
public final class Nvrtc {
    private final NativeLibrary lib;
    private final MethodHandle create, compile, logSize, log, cubinSize, cubin, destroy, version, errorString;

    private Nvrtc(NativeLibrary lib) {
        this.lib = lib;
        create = f("nvrtcCreateProgram", ADDRESS, ADDRESS, ADDRESS, JAVA_INT, ADDRESS, ADDRESS);
        compile = f("nvrtcCompileProgram", JAVA_LONG, JAVA_INT, ADDRESS);
        logSize = f("nvrtcGetProgramLogSize", JAVA_LONG, ADDRESS);
        log = f("nvrtcGetProgramLog", JAVA_LONG, ADDRESS);
        cubinSize = f("nvrtcGetCUBINSize", JAVA_LONG, ADDRESS);
        cubin = f("nvrtcGetCUBIN", JAVA_LONG, ADDRESS);
        destroy = f("nvrtcDestroyProgram", ADDRESS);
        version = f("nvrtcVersion", ADDRESS, ADDRESS);
        errorString = lib.function("nvrtcGetErrorString", FunctionDescriptor.of(ADDRESS, JAVA_INT));
    }

    public static Nvrtc load() {
        Nvrtc nvrtc = new Nvrtc(NativeLibrary.open("NVRTC, CUDA's run-time compiler (libnvrtc)",
                List.of("libnvrtc.so.13", "libnvrtc.so.12", "libnvrtc.so")));
        // NVRTC opens its builtins library by soname at compile time: load it from the same folder first.
        NativeLibrary.preloadBeside(nvrtc.lib, "libnvrtc-builtins");
        return nvrtc;
    }

    private MethodHandle f(String name, MemoryLayout... args) {
        return lib.function(name, FunctionDescriptor.of(JAVA_INT, args));
    }

    public NativeLibrary library() {
        return lib;
    }

    /** "major.minor" of the compiler. */
    public String version() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment major = a.allocate(JAVA_INT), minor = a.allocate(JAVA_INT);
            check((int) version.invokeExact(major, minor), "nvrtcVersion");
            return major.get(JAVA_INT, 0) + "." + minor.get(JAVA_INT, 0);
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    private void check(int code, String call) {
        if (code == 0) return;
        String meaning;
        try {
            meaning = ((MemorySegment) errorString.invokeExact(code)).reinterpret(256).getString(0);
        } catch (Throwable t) {
            meaning = "error";
        }
        throw new CudaError(call, code, meaning);
    }

    /**
     * Compiles {@code source} to a CUBIN with {@code options} (e.g. {@code --gpu-architecture=sm_90}). A source that
     * does not compile is a bug of this program: the error carries the compiler's first lines.
     */
    public byte[] compileToCubin(String name, String source, List<String> options) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment prog = a.allocate(ADDRESS);
            check((int) create.invokeExact(prog, a.allocateFrom(source, StandardCharsets.UTF_8),
                    a.allocateFrom(name, StandardCharsets.UTF_8), 0, MemorySegment.NULL, MemorySegment.NULL),
                    "nvrtcCreateProgram");
            long program = prog.get(JAVA_LONG, 0);
            try {
                MemorySegment opts = a.allocate(ADDRESS, Math.max(1, options.size()));
                for (int i = 0; i < options.size(); i++) {
                    opts.setAtIndex(ADDRESS, i, a.allocateFrom(options.get(i), StandardCharsets.UTF_8));
                }
                int status = (int) compile.invokeExact(program, options.size(), opts);
                if (status != 0) {
                    throw new MoepruneException("CUDA: the kernels of " + name + " did not compile (" + String.join(" ",
                            options) + "): " + MoepruneException.oneLine(programLog(a, program)),
                            MoepruneException.FAILED, null);
                }
                MemorySegment size = a.allocate(JAVA_LONG);
                check((int) cubinSize.invokeExact(program, size), "nvrtcGetCUBINSize");
                MemorySegment out = a.allocate(size.get(JAVA_LONG, 0));
                check((int) cubin.invokeExact(program, out), "nvrtcGetCUBIN");
                return out.toArray(JAVA_BYTE);
            } finally {
                int ignored = (int) destroy.invokeExact(prog);
            }
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    private String programLog(Arena a, long program) throws Throwable {
        MemorySegment size = a.allocate(JAVA_LONG);
        if ((int) logSize.invokeExact(program, size) != 0) return "(no log)";
        MemorySegment text = a.allocate(Math.max(1, size.get(JAVA_LONG, 0)));
        if ((int) log.invokeExact(program, text) != 0) return "(no log)";
        return text.getString(0).strip();
    }
}
