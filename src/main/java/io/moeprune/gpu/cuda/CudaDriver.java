package io.moeprune.gpu.cuda;

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
 * The CUDA driver ({@code libcuda.so.1}, installed with the NVIDIA driver) through FFM, for what the runtime does not
 * offer: loading the modules NVRTC compiles and launching their kernels. It works in the device's primary context,
 * the one the runtime uses, so memory and streams of {@link Cudart} serve both.
 */
public final class CudaDriver {
    private static final int FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED = 8;

    private final NativeLibrary lib;
    private final MethodHandle init, deviceGet, deviceGetName, primaryCtxRetain, ctxSetCurrent, moduleLoadData,
            moduleGetFunction, moduleUnload, launchKernel, funcSetAttribute, getErrorString;

    private CudaDriver(NativeLibrary lib) {
        this.lib = lib;
        init = f("cuInit", JAVA_INT);
        deviceGet = f("cuDeviceGet", ADDRESS, JAVA_INT);
        deviceGetName = f("cuDeviceGetName", ADDRESS, JAVA_INT, JAVA_INT);
        primaryCtxRetain = f("cuDevicePrimaryCtxRetain", ADDRESS, JAVA_INT);
        ctxSetCurrent = f("cuCtxSetCurrent", JAVA_LONG);
        moduleLoadData = f("cuModuleLoadData", ADDRESS, ADDRESS);
        moduleGetFunction = f("cuModuleGetFunction", ADDRESS, JAVA_LONG, ADDRESS);
        moduleUnload = f("cuModuleUnload", JAVA_LONG);
        launchKernel = f("cuLaunchKernel", JAVA_LONG, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT, JAVA_INT,
                JAVA_INT, JAVA_LONG, ADDRESS, ADDRESS);
        funcSetAttribute = f("cuFuncSetAttribute", JAVA_LONG, JAVA_INT, JAVA_INT);
        getErrorString = f("cuGetErrorString", JAVA_INT, ADDRESS);
    }

    /** Loads the driver library (one-line error, exit 2, naming what is missing). */
    public static CudaDriver load() {
        return new CudaDriver(NativeLibrary.open("the NVIDIA driver (libcuda)",
                List.of("libcuda.so.1", "libcuda.so")));
    }

    private MethodHandle f(String name, MemoryLayout... args) {
        return lib.function(name, FunctionDescriptor.of(JAVA_INT, args));
    }

    public NativeLibrary library() {
        return lib;
    }

    String errorString(int code) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            int status = (int) getErrorString.invokeExact(code, p);
            return status == 0 ? p.get(ADDRESS, 0).reinterpret(512).getString(0) : "error " + code;
        } catch (Throwable t) {
            return "error " + code;
        }
    }

    private void check(int code, String call) {
        if (code != 0) throw new CudaError(call, code, errorString(code));
    }

    /** cuInit; the status code instead of an exception, for probing. */
    public int init() {
        try {
            return (int) init.invokeExact(0);
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public String deviceName(int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment dev = a.allocate(JAVA_INT);
            check((int) deviceGet.invokeExact(dev, ordinal), "cuDeviceGet");
            MemorySegment name = a.allocate(256);
            check((int) deviceGetName.invokeExact(name, 256, dev.get(JAVA_INT, 0)), "cuDeviceGetName");
            return name.getString(0);
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** The device's primary context (the runtime's), retained. */
    public long primaryContext(int ordinal) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment dev = a.allocate(JAVA_INT);
            check((int) deviceGet.invokeExact(dev, ordinal), "cuDeviceGet");
            MemorySegment ctx = a.allocate(ADDRESS);
            check((int) primaryCtxRetain.invokeExact(ctx, dev.get(JAVA_INT, 0)), "cuDevicePrimaryCtxRetain");
            return ctx.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** Makes {@code context} current on the calling thread. */
    public void setCurrent(long context) {
        try {
            check((int) ctxSetCurrent.invokeExact(context), "cuCtxSetCurrent");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** Loads a CUBIN (or PTX) image into the current context. */
    public long loadModule(byte[] image) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment data = a.allocate(image.length + 1L);
            MemorySegment.copy(image, 0, data, JAVA_BYTE, 0, image.length);
            MemorySegment module = a.allocate(ADDRESS);
            check((int) moduleLoadData.invokeExact(module, data), "cuModuleLoadData");
            return module.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public long function(long module, String name) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment f = a.allocate(ADDRESS);
            MemorySegment n = a.allocateFrom(name, StandardCharsets.US_ASCII);
            check((int) moduleGetFunction.invokeExact(f, module, n), "cuModuleGetFunction(" + name + ")");
            return f.get(JAVA_LONG, 0);
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    public void unloadModule(long module) {
        try {
            check((int) moduleUnload.invokeExact(module), "cuModuleUnload");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** Lets {@code function} use more than 48 KB of dynamic shared memory. */
    public void maxDynamicShared(long function, int bytes) {
        try {
            check((int) funcSetAttribute.invokeExact(function, FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED, bytes),
                    "cuFuncSetAttribute(max dynamic shared memory " + bytes + ")");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }

    /** Queues one launch; {@code params} is the array of pointers to each argument's value. */
    public void launch(long function, int gx, int gy, int gz, int bx, int by, int bz, int sharedBytes, long stream,
                       MemorySegment params, String name) {
        try {
            check((int) launchKernel.invokeExact(function, gx, gy, gz, bx, by, bz, sharedBytes, stream, params,
                    MemorySegment.NULL), "cuLaunchKernel(" + name + ")");
        } catch (Throwable t) {
            throw CudaError.rethrow(t);
        }
    }
}
